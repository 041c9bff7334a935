"""Decoupled cross-attention for AU tokens (IP-Adapter style), as a diffusers attention processor.

SynFER feeds the AU vector through an MLP into its *own* cross-attention: the UNet's query
attends to the text tokens with the original ``to_k``/``to_v`` and, separately, to the AU tokens
with new ``to_k_au``/``to_v_au``; the two results are added (``text + au_scale * au``) before
the shared output projection. That is exactly IP-Adapter's decoupled cross-attention
(``diffusers.models.attention_processor.IPAdapterAttnProcessor2_0``), re-implemented here
because IP-Adapter expects image-projection tokens passed as a tuple through
``encoder_hidden_states``; our conditioning is one tensor ``[text tokens | AU tokens]`` whose
first ``num_text_tokens`` positions are text.

Why a separate path instead of appending AU tokens to the text tokens: with one softmax the AU
tokens compete with the text tokens for attention mass; decoupled, each condition keeps its own
attention distribution and ``au_scale`` can weigh them at inference (SynFER, IP-Adapter).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _attend(attn, query: torch.Tensor, kv: torch.Tensor, to_k: nn.Module, to_v: nn.Module
            ) -> torch.Tensor:
    b = query.shape[0]
    key, value = to_k(kv), to_v(kv)
    head_dim = key.shape[-1] // attn.heads
    q = query.view(b, -1, attn.heads, head_dim).transpose(1, 2)
    k = key.view(b, -1, attn.heads, head_dim).transpose(1, 2)
    v = value.view(b, -1, attn.heads, head_dim).transpose(1, 2)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, is_causal=False)
    return out.transpose(1, 2).reshape(b, -1, attn.heads * head_dim)


class AUAttnProcessor(nn.Module):
    """Cross-attention processor with a decoupled AU path.

    ``encoder_hidden_states`` is ``(B, num_text_tokens + num_au_tokens, D)``. The text part
    goes through the block's own ``to_k``/``to_v``; the AU part through this module's
    ``to_k_au``/``to_v_au`` (trainable, and the only new attention weights in the pretrained
    path). ``au_scale`` weighs the AU path (0 switches it off).
    """

    def __init__(self, hidden_size: int, cross_attention_dim: int, num_text_tokens: int,
                 au_scale: float = 1.0):
        super().__init__()
        self.num_text_tokens = int(num_text_tokens)
        self.au_scale = float(au_scale)
        self.to_k_au = nn.Linear(cross_attention_dim, hidden_size, bias=False)
        self.to_v_au = nn.Linear(cross_attention_dim, hidden_size, bias=False)

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None,
                 temb=None, *args, **kwargs):
        if encoder_hidden_states is None:
            raise ValueError("AUAttnProcessor is a cross-attention processor; it needs "
                             "encoder_hidden_states")
        residual = hidden_states
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            b, ch, h, w = hidden_states.shape
            hidden_states = hidden_states.view(b, ch, h * w).transpose(1, 2)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        text = encoder_hidden_states[:, :self.num_text_tokens]
        au = encoder_hidden_states[:, self.num_text_tokens:]
        if attn.norm_cross:
            text = attn.norm_encoder_hidden_states(text)
        query = attn.to_q(hidden_states)
        out = _attend(attn, query, text, attn.to_k, attn.to_v)
        if au.shape[1] > 0 and self.au_scale != 0.0:
            out = out + self.au_scale * _attend(attn, query, au, self.to_k_au, self.to_v_au)
        out = attn.to_out[1](attn.to_out[0](out.to(query.dtype)))
        if input_ndim == 4:
            out = out.transpose(-1, -2).reshape(b, ch, h, w)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def install_au_processors(unet, num_text_tokens: int, au_scale: float = 1.0) -> nn.ModuleDict:
    """Give every cross-attention (``attn2``) of ``unet`` an :class:`AUAttnProcessor`; keep the
    default processor on self-attention. Returns the new processors as a ``ModuleDict`` (their
    weights are the AU adapter: train, save and load them with it)."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    procs, adapters = {}, {}
    cross_dim = unet.config.cross_attention_dim
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            procs[name] = AttnProcessor2_0()
            continue
        if name.startswith("mid_block"):
            hidden = unet.config.block_out_channels[-1]
        elif name.startswith("up_blocks"):
            hidden = list(reversed(unet.config.block_out_channels))[int(name.split(".")[1])]
        else:
            hidden = unet.config.block_out_channels[int(name.split(".")[1])]
        p = AUAttnProcessor(hidden, cross_dim, num_text_tokens, au_scale)
        procs[name] = p
        adapters[name.replace(".", "_")] = p
    unet.set_attn_processor(procs)
    return nn.ModuleDict(adapters)


def set_au_scale(adapters: nn.ModuleDict, scale: float) -> None:
    for p in adapters.values():
        p.au_scale = float(scale)
