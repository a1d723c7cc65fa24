"""The emulated tables and their columns, generated from the facts.

Column lists follow servicenow-api.md 1.2 (sys_certificate), 2.3/2.5 (sys_attachment),
3 (sys_protocol_profile), 4.1/4.2 (REST message and method) and, for SOAP, whatever the
facts say. ``sys_choice`` and ``sys_dictionary`` rows are made from these definitions.
Columns the document does not list (on SOAP messages, the metadata tables, syslog) are
the few the sandbox needs, with the platform's usual names.
"""

from __future__ import annotations

from ops.dev.sandbox.facts import Choice, SandboxFacts
from ops.dev.sandbox.schema import Column, Schema, Table
from ops.dev.sandbox.user_tables import user_tables

__all__ = ["build_schema"]

# REST and SOAP messages: role web_service_admin or admin (servicenow-api.md 4.3, 4.4).
_WEB_SERVICES = ("web_service_admin", "admin")


def _text(name: str, label: str, length: int = 100) -> Column:
    return Column(name, label, "string", length)


def _bool(name: str, label: str, default: str = "false") -> Column:
    return Column(name, label, "boolean", default=default)


def _ref(name: str, label: str, table: str) -> Column:
    return Column(name, label, "reference", 32, reference=table)


def _choice(name: str, label: str, choices: tuple[Choice, ...], default: str = "") -> Column:
    return Column(name, label, "string", 40, choices=choices, default=default)


def _certificate(f: SandboxFacts) -> Table:
    return Table(
        "sys_certificate",
        "X.509 Certificate",
        "name",
        (
            _text("name", "Name"),
            _text("short_description", "Short description", 160),
            _choice("type", "Type", f.certificate_types()),
            _choice("format", "Format", (f.pem_format, f.der_format)),
            _bool("active", "Active", f.certificate_active_default),
            _text("pem_certificate", "PEM Certificate", 8000),
            Column("key_store_password", "Key store password", f.key_store_password_type, 255),
            _bool("expiration_notification", "Expiration notification"),
            Column("notify_on_expiration", "Notify on expiration", "glide_list", 4000),
            Column("warn_in_days_to_expire", "Warn in days to expire", "integer"),
            Column("valid_from", "Valid from", "glide_date_time", read_only=True),
            Column("expires", "Expires", "glide_date_time", read_only=True),
            Column("expires_in_days", "Expires in days", "integer", read_only=True),
            Column("issuer", "Issuer", "string", 1000, read_only=True),
            Column("subject", "Subject", "string", 1000, read_only=True),
        ),
    )


def _attachment() -> Table:
    return Table(
        "sys_attachment",
        "Attachment",
        "file_name",
        (
            _text("file_name", "File name"),
            _text("content_type", "Content type"),
            Column("size_bytes", "Size bytes", "integer"),
            Column("size_compressed", "Size compressed", "integer"),
            _bool("compressed", "Compressed"),
            _text("table_name", "Table name", 80),
            _text("table_sys_id", "Table sys ID", 32),
            _text("hash", "Hash", 64),
            _text("state", "State", 40),
            _text("average_image_color", "Average image color", 7),
            Column("image_height", "Image height", "integer"),
            Column("image_width", "Image width", "integer"),
        ),
        read_roles=(),
    )


def _profile() -> Table:
    return Table(
        "sys_protocol_profile",
        "Protocol Profile",
        "protocol",
        (
            _text("protocol", "Protocol", 40),
            Column("default_port", "Default port", "integer"),
            _ref("keystore", "Keystore", "sys_certificate"),
        ),
    )


def _auth_columns() -> tuple[Column, ...]:
    return (
        _bool("use_basic_auth", "Use basic auth"),
        _text("basic_auth_user", "Basic auth user"),
        Column("basic_auth_password", "Basic auth password", "password2", 255),
        _ref("basic_auth_profile", "Basic auth profile", "sys_auth_profile_basic"),
        _ref("oauth2_profile", "OAuth profile", "oauth_entity_profile"),
        _bool("use_mutual_auth", "Use mutual authentication"),
        _ref("protocol_name", "Protocol profile", "sys_protocol_profile"),
    )


def _rest_message(f: SandboxFacts) -> Table:
    access = (("package_private", "This application scope only"), ("public", "All scopes"))
    return Table(
        "sys_rest_message",
        "REST Message",
        "name",
        (
            _text("name", "Name"),
            _text("description", "Description", 1000),
            Column("rest_endpoint", "Endpoint", "url", 1024),
            _choice("access", "Accessible from", access, "public"),
            _choice(
                "authentication_type",
                "Authentication type",
                f.message_auth_types(),
                f.auth_no_authentication[0],
            ),
            *_auth_columns(),
        ),
        read_roles=_WEB_SERVICES,
        write_roles=_WEB_SERVICES,
    )


def _rest_method(f: SandboxFacts) -> Table:
    return Table(
        "sys_rest_message_fn",
        "HTTP Method",
        "function_name",
        (
            _ref("rest_message", "REST Message", "sys_rest_message"),
            _text("function_name", "Name"),
            _choice("http_method", "HTTP method", f.http_methods, f.http_methods[0][0]),
            Column("rest_endpoint", "Endpoint", "url", 1024),
            _text("content", "Content", 65000),
            _choice(
                "authentication_type",
                "Authentication type",
                f.method_auth_types(),
                f.auth_inherit[0],
            ),
            *_auth_columns(),
            _ref("use_mid_server", "Use MID server", "ecc_agent"),
            _text("qualified_name", "Qualified name", 200),
            _bool("lock", "Lock"),
        ),
        read_roles=_WEB_SERVICES,
        write_roles=_WEB_SERVICES,
    )


def _soap_message(f: SandboxFacts) -> Table:
    return Table(
        "sys_soap_message",
        "SOAP Message",
        "name",
        (
            _text("name", "Name"),
            _text("description", "Description", 1000),
            Column("wsdl", "WSDL", "string", 65000),
            _bool("use_basic_auth", "Use basic auth"),
            _text("basic_auth_user", "Basic auth user"),
            Column("basic_auth_password", "Basic auth password", "password2", 255),
            _bool(f.soap_mutual_auth_column, "Enable mutual authentication"),
            _ref(f.soap_profile_column, "Protocol profile", "sys_protocol_profile"),
        ),
        read_roles=_WEB_SERVICES,
        write_roles=_WEB_SERVICES,
    )


def _soap_function(f: SandboxFacts) -> Table:
    mutual: tuple[Column, ...] = ()
    if f.soap_function_mutual_auth:
        mutual = (
            _bool(f.soap_mutual_auth_column, "Enable mutual authentication"),
            _ref(f.soap_profile_column, "Protocol profile", "sys_protocol_profile"),
            _bool("use_basic_auth", "Use basic auth"),
            _ref("use_mid_server", "Use MID server", "ecc_agent"),
        )
    return Table(
        f.soap_function_table,
        "SOAP Message Function",
        "function_name",
        (
            _ref("soap_message", "SOAP Message", "sys_soap_message"),
            _text("function_name", "Name"),
            Column("soap_endpoint", "SOAP endpoint", "url", 1024),
            _text("soap_action", "SOAP action", 1000),
            _text("envelope", "Envelope", 65000),
            *mutual,
        ),
        read_roles=_WEB_SERVICES,
        write_roles=_WEB_SERVICES,
    )


def _dictionary(f: SandboxFacts) -> Table:
    if f.dictionary_types_are_references:
        internal = Column("internal_type", "Type", "reference", 32, "sys_glide_object", "name")
        reference = Column("reference", "Reference", "reference", 80, "sys_db_object", "name")
    else:
        internal, reference = (
            _text("internal_type", "Type", 40),
            _text("reference", "Reference", 80),
        )
    return Table(
        "sys_dictionary",
        "Dictionary Entry",
        "column_label",
        (
            _text("name", "Table", 80),
            _text("element", "Column name", 80),
            _text("column_label", "Column label", 80),
            internal,
            reference,
            Column("max_length", "Max length", "integer"),
            _text("default_value", "Default value", 512),
            _bool("read_only", "Read only"),
            _bool("mandatory", "Mandatory"),
            _bool("active", "Active", "true"),
        ),
    )


def _choice_table() -> Table:
    return Table(
        "sys_choice",
        "Choice",
        "label",
        (
            _text("name", "Table", 80),
            _text("element", "Element", 80),
            _text("value", "Value", 40),
            _text("label", "Label"),
            Column("language", "Language", "string", 40, default="en"),
            _bool("inactive", "Inactive"),
            Column("sequence", "Sequence", "integer"),
            _text("dependent_value", "Dependent value", 40),
        ),
        read_roles=(),
    )


def _properties_table() -> Table:
    return Table(
        "sys_properties",
        "System Property",
        "name",
        (
            _text("name", "Name"),
            _text("value", "Value", 4000),
            Column("type", "Type", "string", 40, default="string"),
            _text("description", "Description", 512),
        ),
        read_roles=(),
    )


def _syslog_table() -> Table:
    return Table(
        "syslog",
        "Log",
        "message",
        (
            _text("level", "Level", 40),
            _text("source", "Source", 40),
            _text("message", "Message", 4000),
        ),
    )


def build_schema(facts: SandboxFacts) -> Schema:
    """Every emulated table, keyed by name, as these facts describe them."""
    tables = (
        _certificate(facts),
        _attachment(),
        _profile(),
        _rest_message(facts),
        _rest_method(facts),
        _soap_message(facts),
        _soap_function(facts),
        _dictionary(facts),
        _choice_table(),
        _properties_table(),
        _syslog_table(),
        *user_tables(facts),
    )
    return {t.name: t for t in tables}
