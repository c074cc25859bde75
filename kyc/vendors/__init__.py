"""Verification vendors: the registry, and the adapter of each (kyc.vendors.base is the interface).

``VENDORS`` (a plumbing.hooks.Registry) holds one ``VendorEntry`` (plumbing.adapters.AdapterEntry) per
vendor code: the built-in checks
("builtin", every brand's default) and the KYC vendor simulator ("kycsim"); another app or a
deployment registers more the same way. A brand's KYC policy names the vendor its submissions go to;
an external vendor's credentials are in settings.KYC_VENDORS[code] (base_url, api_key, api_secret,
webhook_secret, timeout).
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from kyc.exceptions import KycError
from kyc.vendors.base import KycVendor, VendorConfig
from plumbing.adapters import AdapterEntry, adapter_build
from plumbing.hooks import Registry

VendorEntry = AdapterEntry[KycVendor]

VENDORS: Registry[VendorEntry] = Registry("KYC vendors", key=lambda v: v.code, order=lambda v: (v.order, v.code))


class VendorNotConfigured(KycError):
    default_code = "kyc_vendor_unknown"
    status_code = 404


def vendor_config(code: str) -> VendorConfig:
    """The vendor's settings (settings.KYC_VENDORS[code]); a vendor without any gets an empty config."""
    return VendorConfig.from_settings(code, (getattr(settings, "KYC_VENDORS", {}) or {}).get(code) or {})


def vendor_get(code: str) -> KycVendor:
    """The adapter of vendor `code`, configured; VendorNotConfigured for a code nobody registered."""
    return adapter_build(VENDORS, code, vendor_config(code),
                         missing=lambda: VendorNotConfigured(f"No KYC vendor {code!r}."))


def vendor_choices() -> list[tuple[str, str]]:
    return [(entry.code, str(entry.label)) for entry in VENDORS]


def register_default_vendors() -> None:
    from kyc.vendors.builtin import BuiltinVendor
    from kyc.vendors.simulator import SimulatorVendor

    VENDORS.register(VendorEntry("builtin", _("Built-in automatic checks"), BuiltinVendor, order=0),
                     VendorEntry("kycsim", _("KYC vendor simulator"), SimulatorVendor, order=100))


__all__ = ["VENDORS", "VendorEntry", "VendorNotConfigured", "register_default_vendors", "vendor_choices",
           "vendor_config", "vendor_get"]
