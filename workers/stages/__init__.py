"""The nine stage cores, each reading like the runbook step it automates."""

from __future__ import annotations

from messages import Stage

from ..runtime import StageCore
from .create_profile import create_profile
from .csr import csr
from .enable import enable
from .generate import generate
from .import_chain import import_chain
from .register_trust import register_trust
from .upload_keystore import upload_keystore
from .verify import verify
from .wait_for_ca import wait_for_ca

__all__ = ["CORES"]

CORES: dict[Stage, StageCore] = {
    Stage.GENERATE: generate,
    Stage.CSR: csr,
    Stage.WAIT_FOR_CA: wait_for_ca,
    Stage.IMPORT_CHAIN: import_chain,
    Stage.UPLOAD_KEYSTORE: upload_keystore,
    Stage.REGISTER_TRUST: register_trust,
    Stage.CREATE_PROFILE: create_profile,
    Stage.ENABLE: enable,
    Stage.VERIFY: verify,
}
