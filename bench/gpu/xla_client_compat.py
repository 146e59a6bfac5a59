"""Compiling and running an HLO module with JAX's XLA client across JAX versions (GPU side)."""
from jax._src.lib import xla_client as xc


def to_stablehlo(proto: bytes):
    mlir_api = xc._xla.mlir
    if hasattr(mlir_api, "hlo_to_stablehlo"):
        return mlir_api.hlo_to_stablehlo(proto)
    return mlir_api.xla_computation_to_mlir_module(xc.XlaComputation(proto))


def compile_on(device, module):
    client = device.client
    if hasattr(client, "compile_and_load"):
        return client.compile_and_load(module, xc.DeviceList((device,)), xc.CompileOptions())
    return client.compile(module)


def execute(exe, buffers):
    outs = exe.execute(buffers)
    return outs if isinstance(outs, (list, tuple)) else [outs]
