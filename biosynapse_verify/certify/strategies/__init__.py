"""Certificate strategies, one module each, in ladder order (cheapest first)."""

from biosynapse_verify.certify.strategies.dense_lyapunov import DenseLyapunovStrategy
from biosynapse_verify.certify.strategies.diagonal import DiagonalStrategy
from biosynapse_verify.certify.strategies.identity import IdentityStrategy
from biosynapse_verify.certify.strategies.sdp import SdpStrategy

__all__ = [
    "DenseLyapunovStrategy",
    "DiagonalStrategy",
    "IdentityStrategy",
    "SdpStrategy",
]
