"""The names of the instance's tables twoway reads and writes: one name for each."""

from __future__ import annotations

__all__ = [
    "ATTACHMENT",
    "CERTIFICATE",
    "CHOICE",
    "DICTIONARY",
    "PROFILE",
    "PROPERTIES",
    "REST_MESSAGE",
    "REST_METHOD",
    "SOAP_MESSAGE",
    "SYSLOG",
    "USER_ROLE",
]

CERTIFICATE = "sys_certificate"  # keystores and Trust Store Certs alike
PROFILE = "sys_protocol_profile"
REST_MESSAGE = "sys_rest_message"
REST_METHOD = "sys_rest_message_fn"
SOAP_MESSAGE = "sys_soap_message"  # its functions' table is a discovered fact
ATTACHMENT = "sys_attachment"
PROPERTIES = "sys_properties"
CHOICE = "sys_choice"
DICTIONARY = "sys_dictionary"
SYSLOG = "syslog"
USER_ROLE = "sys_user_has_role"
