"""Batch-1 float32 ``Conv3d`` on CPU through oneDNN: the fast path for VAE encode / decode on CPU.

ATen's CPU convolution dispatch (torch 2.13) sends a float32 ``conv3d`` to oneDNN (mkldnn) only when the batch is
larger than 1, it is grouped, the kernel is larger than 3x3 spatially, or ``N * C * D * H > 20480``; otherwise it
runs the native ``slow_conv3d`` (im2col + GEMM) kernel (``torch._C._select_conv_backend`` shows the choice).
``AutoencoderKLWan`` decodes causally one latent frame at a time (and encodes four pixel frames at a time), so ``D``
is at most 6 and nearly every 3x3x3 convolution of a 128 px clip falls on the native kernel, which measured up to 13x
slower than oneDNN on the same shapes (a whole 128 px decode 2.8x slower; benchmarks/bench_vae.py). A batch of 2
already takes the oneDNN path. No ``torch.backends`` flag or memory format changes that choice.

``fast_cpu_conv3d()`` is a context manager: while it is active, in the current thread only, every ``torch.conv3d``
(which ``nn.Conv3d`` and diffusers' ``WanCausalConv3d`` call) that would take the native path is computed by
``torch.mkldnn_convolution``, the kernel ATen itself uses for larger inputs, so the numbers equal the plain path up
to float32 rounding. It is a ``TorchFunctionMode``: nothing is patched, the mode is thread-local and is popped on
exit, also when the block raises. Calls it does not reroute, computed exactly as without it:

- inputs that are not float32 on CPU (CUDA, float64, bfloat16, ...), not batched 5-D with a batch of 1, or not
  contiguous (so the output's memory format stays the plain path's);
- calls that autograd must record (grad enabled and a tensor requires grad);
- string padding (``"same"``) and kernels of spatial size 1x1 (``(3, 1, 1)`` temporal and ``1x1x1`` pointwise
  convolutions), on which the native kernel measured as fast or faster;
- everything when oneDNN is unavailable or disabled (``torch.backends.mkldnn.enabled = False``).

Usage::

    with fast_cpu_conv3d(vae.device):
        video = vae.decode(latents, return_dict=False)[0]
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch.overrides import TorchFunctionMode


def _triple(value: int | tuple[int, ...] | list[int]) -> tuple[int, int, int]:
    return (value,) * 3 if isinstance(value, int) else tuple(value)


def _conv3d_args(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """``torch.conv3d``'s arguments, positional or keyword, as one tuple in its order."""
    return input, weight, bias, stride, padding, dilation, groups


def takes_onednn_path(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    padding: int | tuple[int, ...] | str = 0,
) -> bool:
    """Whether ``fast_cpu_conv3d`` reroutes ``conv3d(input (1, C, D, H, W), weight (O, C/g, kd, kh, kw), bias)``."""
    tensors = (input, weight) if bias is None else (input, weight, bias)
    return (
        torch.backends.mkldnn.is_available()
        and torch.backends.mkldnn.enabled
        and all(t.device.type == "cpu" and t.dtype == torch.float32 and t.layout == torch.strided for t in tensors)
        and input.dim() == 5
        and input.shape[0] == 1
        and input.is_contiguous()
        and not isinstance(padding, str)
        and (weight.shape[-1] > 1 or weight.shape[-2] > 1)
        and not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))
    )


class OneDNNConv3dMode(TorchFunctionMode):
    """Thread-local mode computing eligible ``torch.conv3d`` calls with ``torch.mkldnn_convolution``.

    ``fast_calls`` / ``native_calls`` count the ``conv3d`` calls rerouted / left alone while the mode was active.
    """

    def __init__(self) -> None:
        super().__init__()
        self.fast_calls = 0
        self.native_calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is not torch.conv3d:
            return func(*args, **kwargs)
        input, weight, bias, stride, padding, dilation, groups = _conv3d_args(*args, **kwargs)
        if not takes_onednn_path(input, weight, bias, padding):
            self.native_calls += 1
            return func(*args, **kwargs)
        self.fast_calls += 1
        return torch.mkldnn_convolution(
            input, weight, bias, _triple(padding), _triple(stride), _triple(dilation), groups
        )


def fast_cpu_conv3d(device: torch.device | str = "cpu") -> OneDNNConv3dMode | nullcontext:
    """Context manager routing batch-1 float32 CPU ``conv3d`` through oneDNN in this thread (module docstring).

    ``device`` is where the model runs; for any other than CPU this returns a no-op context, so GPU runs do not
    pay the mode's per-op Python dispatch (about 1.6 us per torch call).
    """
    return OneDNNConv3dMode() if torch.device(device).type == "cpu" else nullcontext()
