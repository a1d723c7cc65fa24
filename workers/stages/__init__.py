"""The nine stage cores, each reading like the runbook step it automates."""

from __future__ import annotations

from messages import Stage
from workers.machinery.core import StageCore
from workers.stages.create_profile import create_profile
from workers.stages.csr import csr
from workers.stages.enable import enable
from workers.stages.generate import generate
from workers.stages.import_chain import import_chain
from workers.stages.register_trust import register_trust
from workers.stages.upload_keystore import upload_keystore
from workers.stages.verify import verify
from workers.stages.wait_for_ca import wait_for_ca

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
