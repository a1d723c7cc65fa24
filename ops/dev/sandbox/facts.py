"""The sandbox's answers to every ServiceNow fact that is not CONFIRMED.

docs/servicenow.md lists the facts, their confidence and their public sources (its
source notes, servicenow-api.md, mark some facts LIKELY or UNCERTAIN). The sandbox must answer them
somehow; it answers them here and nowhere else, so that one edit follows a correction and
tests can start a sandbox that answers differently (``SandboxFacts(trust_store_type=
("trust_store_cert", "Trust Store Cert"), soap_profile_column="protocol_name")``).
Tables, ``sys_choice`` rows and ``sys_dictionary`` rows are all generated from these.

A choice is a ``(stored value, label)`` pair.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Choice", "SandboxFacts"]

Choice = tuple[str, str]


class SandboxFacts(BaseModel):
    """What this sandbox instance answers where the documentation is not sure."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # sys_certificate.type (1.3): labels CONFIRMED, stored values LIKELY/UNCERTAIN.
    keystore_type: Choice = ("key_store", "Java Key Store")
    trust_store_type: Choice = ("trust_store", "Trust Store Cert")
    pkcs12_type: Choice = ("pkcs12_key_store", "PKCS12 Key Store")
    offer_pkcs12: bool = True  # 6.3: which release added PKCS12 is UNCERTAIN
    # 10: a fourth choice from Yokohama on; its stored value has no public source.
    bcfks_type: Choice = ("bcfks_key_store", "BCFKS keystore")
    offer_bcfks: bool = True
    # sys_certificate.format (1.3): `pem` LIKELY, `der` UNCERTAIN.
    pem_format: Choice = ("pem", "PEM")
    der_format: Choice = ("der", "DER")
    # 1.4: internal type of key_store_password, UNCERTAIN.
    key_store_password_type: str = "password2"  # noqa: S105 - a type name
    # 10: the platform refuses clear text set on a Password2 field without the display
    # value flag ("expecting encrypted data"); off by default, as the Table API's handling
    # of it is not documented. On, it proves twoway writes with the flag.
    password2_needs_display_value: bool = False
    # Not in the document: the dictionary default of sys_certificate.active. Most
    # `active` columns on the platform default to true, so a client must send false.
    certificate_active_default: Literal["true", "false"] = "true"
    # 10 (PRB1878139): older releases keep the first keystore they loaded for a record
    # after its file changes. Off by default (fixed in Zurich); on, it shows that a
    # rotation must not rely on a changed attachment being picked up.
    cache_loaded_keystores: bool = False
    # 1.2: whether the derived fields are filled from an attached keystore, UNCERTAIN.
    derive_fields_from_keystore: bool = True

    # sys_rest_message(_fn).authentication_type (4.3): `no_authentication` LIKELY.
    auth_no_authentication: Choice = ("no_authentication", "No authentication")
    auth_basic: Choice = ("basic", "Basic")
    auth_oauth2: Choice = ("oauth2", "OAuth 2.0")
    auth_inherit: Choice = ("inherit_from_parent", "Inherit from parent")
    # Not in the document: sys_rest_message_fn.http_method choices.
    http_methods: tuple[Choice, ...] = (
        ("get", "GET"),
        ("post", "POST"),
        ("put", "PUT"),
        ("patch", "PATCH"),
        ("delete", "DELETE"),
    )

    # 4.4: SOAP column names, LIKELY from ServiceNow's own SOAPMessageGenerator and
    # SOAPMessage script includes: `enable_mutual_auth` and `protocol_profile` on the
    # message and on each sys_soap_message_function row (which also carries use_basic_auth
    # and use_mid_server). The sandbox's earlier guess (`use_mutual_auth`, functions
    # without mutual-auth columns) stays as an alternative-facts case in the tests.
    soap_mutual_auth_column: str = "enable_mutual_auth"
    soap_profile_column: str = "protocol_profile"
    soap_function_table: str = "sys_soap_message_function"
    soap_function_mutual_auth: bool = True

    # 2.5: the Attachment API metadata includes `hash` (lower-case hex SHA-256), `state`
    # and `chunk_size_bytes`: CONFIRMED from a response recorded on a real developer
    # instance (servicenow.itsm's attachment_upload). False gives the documented 2.3 shape.
    attachment_api_includes_hash: bool = True
    # 2.5: `state` right after an upload reads "pending" on a real instance.
    attachment_upload_state: Literal["pending", "available"] = "pending"
    # 3: whether protocol-name rules are enforced on insert, UNCERTAIN.
    enforce_protocol_rules: bool = False
    # 5.6: spelling of the retry header on a 429, UNCERTAIN.
    # (The docs write "Retry After", which is not a legal header name on the wire.)
    retry_after_header: Annotated[str, Field(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")] = (
        "Retry-After"
    )

    # Not in the document: sys_dictionary.internal_type and .reference are references
    # keyed by name (to sys_glide_object / sys_db_object), so without
    # sysparm_exclude_reference_link they come back as {"link": ".../name=x", "value": "x"}.
    dictionary_types_are_references: bool = True
    # 6.10 / 5.4: how an ACL refuses a read by a user without the admin role:
    # "forbid" answers 403; "filter" answers 200 with the rows filtered out (KB3047115).
    acl_read_denied: Literal["forbid", "filter"] = "forbid"
    # Not in the document: whether a user without admin may read sys_user_has_role (its
    # own role grants). When false, such a user cannot find out its roles through the API.
    user_roles_readable: bool = True
    # 6.7: the level written to syslog when a keystore fails to load.
    syslog_error_level: str = "error"

    def certificate_types(self) -> tuple[Choice, ...]:
        """The choices of sys_certificate.type, in form order."""
        types = [self.trust_store_type, self.keystore_type]
        if self.offer_pkcs12:
            types.append(self.pkcs12_type)
        if self.offer_bcfks:
            types.append(self.bcfks_type)
        return tuple(types)

    def keystore_types(self) -> frozenset[str]:
        """Stored values of the types a protocol profile may use as keystore."""
        values = {self.keystore_type[0]}
        if self.offer_pkcs12:
            values.add(self.pkcs12_type[0])
        return frozenset(values)

    def message_auth_types(self) -> tuple[Choice, ...]:
        """The choices of sys_rest_message.authentication_type."""
        return (self.auth_no_authentication, self.auth_basic, self.auth_oauth2)

    def method_auth_types(self) -> tuple[Choice, ...]:
        """The choices of sys_rest_message_fn.authentication_type (inherit first)."""
        return (self.auth_inherit, *self.message_auth_types())
