"""Certificate strategies, one module each, in ladder order (cheapest first)."""

from biosynapse_verify.certify.strategies.block_diagonal import BlockDiagonalStrategy
from biosynapse_verify.certify.strategies.dense_lyapunov import DenseLyapunovStrategy
from biosynapse_verify.certify.strategies.diagonal import DiagonalStrategy
from biosynapse_verify.certify.strategies.identity import IdentityStrategy
from biosynapse_verify.certify.strategies.sdp import SdpStrategy
from biosynapse_verify.certify.strategies.two_time_scale import TwoTimeScaleStrategy

__all__ = [
    "BlockDiagonalStrategy",
    "DenseLyapunovStrategy",
    "DiagonalStrategy",
    "IdentityStrategy",
    "SdpStrategy",
    "TwoTimeScaleStrategy",
]
