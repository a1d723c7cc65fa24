"""A protocol profile's name as a URL scheme: which endpoints name a profile, and the
https URL the instance calls for them."""

from __future__ import annotations

from workers.servicenow.schemes import custom_scheme, https_url, uses_profile_scheme


def test_only_a_scheme_other_than_http_names_a_profile() -> None:
    assert custom_scheme("MAuthPay://partner.example/api") == "mauthpay"
    assert custom_scheme("https://partner.example/api") is None
    assert custom_scheme("HTTP://partner.example") is None
    assert custom_scheme("${endpoint}/api") is None and custom_scheme("") is None
    assert uses_profile_scheme("MAUTHPAY://partner.example", "mauthpay")
    assert not uses_profile_scheme("mauthpay://partner.example", "mauthpayroll")


def test_the_scheme_stands_for_https_on_the_endpoints_port_else_the_profiles() -> None:
    assert https_url("mauthpay://h.example:8443/a?b=1") == "https://h.example:8443/a?b=1"
    assert https_url("mauthpay://h.example/a", "9443") == "https://h.example:9443/a"
    assert https_url("mauthpay://h.example/a", "") == "https://h.example/a"
    assert https_url("mauthpay://[::1]/a", 8443) == "https://[::1]:8443/a"
    assert https_url("https://h.example:1/a", 8443) == "https://h.example:1/a"
