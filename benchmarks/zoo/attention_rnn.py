"""The zoo's mixer, attention, recurrent and token models (see :mod:`zoo.models` for how they were written and
what ``unregistered`` plants)."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .mlp_cnn import _stack


# ---------------------------------------------------------------------------------------------- mixers and attention
class _MixerBlock(nn.Module):
    """lucidrains/mlp-mixer-pytorch mlp_mixer_pytorch/mlp_mixer_pytorch.py (Tolstikhin et al. 2021): a
    pre-norm residual token-mixing MLP (across patches) and a channel-mixing MLP, each Linear-GELU-Linear."""

    def __init__(self, patches, dim, token_hidden, channel_hidden):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.tok1, self.tok2 = nn.Linear(patches, token_hidden), nn.Linear(token_hidden, patches)
        self.ch1, self.ch2 = nn.Linear(dim, channel_hidden), nn.Linear(channel_hidden, dim)

    def forward(self, x):  # (B, patches, dim)
        y = self.norm1(x).transpose(1, 2)
        x = x + self.tok2(F.gelu(self.tok1(y))).transpose(1, 2)
        return x + self.ch2(F.gelu(self.ch1(self.norm2(x))))


class MLPMixer(nn.Module):
    """MLP-Mixer (lucidrains/mlp-mixer-pytorch mlp_mixer_pytorch/mlp_mixer_pytorch.py): 7×7 patches of a 28×28
    image (16 patches) embedded to 64, 4 mixer blocks (token hidden 32, channel hidden 128), LayerNorm, mean
    over patches, Linear to 10."""

    def __init__(self, depth=4, unregistered=False):
        super().__init__()
        self.embed = nn.Linear(49, 64)
        self.blocks = _stack([_MixerBlock(16, 64, 32, 128) for _ in range(depth)], unregistered)
        self.norm, self.head = nn.LayerNorm(64), nn.Linear(64, 10)

    def forward(self, x):
        b = x.shape[0]
        p = x.reshape(b, 1, 4, 7, 4, 7).permute(0, 2, 4, 1, 3, 5).reshape(b, 16, 49)
        h = self.embed(p)
        for blk in self.blocks:
            h = blk(h)
        return self.head(self.norm(h).mean(1))


class _Attention(nn.Module):
    """Multi-head self-attention from Linear projections (lucidrains/vit-pytorch vit_pytorch/vit.py's
    ``Attention``; karpathy/makemore makemore.py's ``CausalSelfAttention`` with ``causal``)."""

    def __init__(self, dim, heads, causal=False):
        super().__init__()
        self.heads, self.causal = heads, causal
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        q, k, v = (z.reshape(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.heads)
        if self.causal:
            att = att.masked_fill(torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        return self.proj(y)


class _TransformerBlock(nn.Module):
    """Pre-norm transformer block: x + attn(LN x), x + MLP(LN x) with a 4× (or ``hidden``) GELU MLP."""

    def __init__(self, dim, heads, hidden, causal=False):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = _Attention(dim, heads, causal)
        self.fc, self.proj = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.proj(F.gelu(self.fc(self.ln2(x))))


class SmallViT(nn.Module):
    """A small Vision Transformer (lucidrains/vit-pytorch vit_pytorch/vit.py, ``ViT``; Dosovitskiy et al.
    2021): 7×7 patches (16), patch embedding to 64, a class token and learned positions, 2 pre-norm blocks
    of 4 heads with MLP 128, LayerNorm and a Linear head on the class token."""

    def __init__(self, depth=2, unregistered=False):
        super().__init__()
        self.embed = nn.Linear(49, 64)
        self.cls, self.pos = nn.Parameter(torch.randn(1, 1, 64)), nn.Parameter(torch.randn(1, 17, 64))
        self.blocks = _stack([_TransformerBlock(64, 4, 128) for _ in range(depth)], unregistered)
        self.norm, self.head = nn.LayerNorm(64), nn.Linear(64, 10)

    def forward(self, x):
        b = x.shape[0]
        p = x.reshape(b, 1, 4, 7, 4, 7).permute(0, 2, 4, 1, 3, 5).reshape(b, 16, 49)
        h = torch.cat([self.cls.expand(b, -1, -1), self.embed(p)], 1) + self.pos
        for blk in self.blocks:
            h = blk(h)
        return self.head(self.norm(h)[:, 0])


# ---------------------------------------------------------------------------------------------- recurrent
class RowGRU(nn.Module):
    """yunjey/pytorch-tutorial tutorials/02-intermediate/recurrent_neural_network/main.py (an LSTM reading an
    MNIST image row by row, 28 steps of 28 pixels, Linear on the last hidden state) with a GRU of 64 units."""

    def __init__(self, unregistered=False):
        super().__init__()
        self.gru, self.fc = nn.GRU(28, 64, batch_first=True), nn.Linear(64, 10)

    def forward(self, x):
        out, _ = self.gru(x.reshape(x.shape[0], 28, 28))
        return self.fc(out[:, -1])


# ---------------------------------------------------------------------------------------------- token models
VOCAB, BLOCK = 27, 8  # makemore's 26 letters + "." ; a context of 8 tokens


class MakemoreMLP(nn.Module):
    """karpathy/makemore makemore.py, ``MLP`` (Bengio et al. 2003): the embeddings (n_embd 16) of the last
    ``BLOCK`` tokens concatenated, Linear to 64, tanh, Linear to the vocabulary."""

    def __init__(self, unregistered=False):
        super().__init__()
        self.wte = nn.Embedding(VOCAB + 1, 16)
        self.mlp = nn.Sequential(nn.Linear(BLOCK * 16, 64), nn.Tanh(), nn.Linear(64, VOCAB))

    def forward(self, idx):
        return self.mlp(self.wte(idx).flatten(1))


class MakemoreTransformer(nn.Module):
    """karpathy/makemore makemore.py, ``Transformer`` (GPT-2-like: token and position embeddings, causal
    pre-norm blocks, final LayerNorm, lm_head) with n_embd 32, 2 layers, 4 heads; the logits of the last
    position (the next-token prediction the task asks for)."""

    def __init__(self, depth=2, unregistered=False):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(VOCAB, 32), nn.Embedding(BLOCK, 32)
        self.blocks = _stack([_TransformerBlock(32, 4, 128, causal=True) for _ in range(depth)], unregistered)
        self.ln_f, self.lm_head = nn.LayerNorm(32), nn.Linear(32, VOCAB, bias=False)

    def forward(self, idx):
        h = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for blk in self.blocks:
            h = blk(h)
        return self.lm_head(self.ln_f(h))[:, -1]


class _MakemoreGRUCell(nn.Module):
    """karpathy/makemore makemore.py, ``GRUCell``: z = σ(W_z [x, h]), r = σ(W_r [x, h]),
    h̄ = tanh(W_h [x, r ⊙ h]), h' = (1 − z) ⊙ h + z ⊙ h̄."""

    def __init__(self, n_embd, n_embd2):
        super().__init__()
        self.xh_to_z, self.xh_to_r = nn.Linear(n_embd + n_embd2, n_embd2), nn.Linear(n_embd + n_embd2, n_embd2)
        self.xh_to_hbar = nn.Linear(n_embd + n_embd2, n_embd2)

    def forward(self, x, h):
        xh = torch.cat([x, h], 1)
        z, r = torch.sigmoid(self.xh_to_z(xh)), torch.sigmoid(self.xh_to_r(xh))
        hbar = torch.tanh(self.xh_to_hbar(torch.cat([x, r * h], 1)))
        return (1 - z) * h + z * hbar


class MakemoreGRU(nn.Module):
    """karpathy/makemore makemore.py, ``RNN`` with cell_type "gru": a learned start state, the GRU cell
    (n_embd 16, n_embd2 32) over the tokens, lm_head on the last state."""

    def __init__(self, unregistered=False):
        super().__init__()
        self.start = nn.Parameter(torch.zeros(1, 32))
        self.wte, self.cell, self.lm_head = nn.Embedding(VOCAB, 16), _MakemoreGRUCell(16, 32), nn.Linear(32, VOCAB)

    def forward(self, idx):
        h = self.start.expand(idx.shape[0], -1)
        emb = self.wte(idx)
        for t in range(idx.shape[1]):
            h = self.cell(emb[:, t], h)
        return self.lm_head(h)


class WordLM(nn.Module):
    """pytorch/examples word_language_model/model.py, ``RNNModel`` (Embedding, dropout, a recurrent layer,
    dropout, Linear decoder) with a GRU and ``tie_weights`` (decoder.weight is the encoder's embedding, Press
    & Wolf 2017), ninp = nhid = 32, its ``init_weights`` U(±0.1); the logits of the last position."""

    def __init__(self, unregistered=False):
        super().__init__()
        self.drop = nn.Dropout(0.2)
        self.encoder, self.rnn = nn.Embedding(VOCAB, 32), nn.GRU(32, 32, batch_first=True)
        self.decoder = nn.Linear(32, VOCAB)
        self.decoder.weight = self.encoder.weight
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, idx):
        out, _ = self.rnn(self.drop(self.encoder(idx)))
        return self.decoder(self.drop(out[:, -1]))


class TextClassifier(nn.Module):
    """pytorch/tutorials beginner_source/text_sentiment_ngrams_tutorial.py, ``TextClassificationModel``:
    EmbeddingBag (mean) of dimension 64 and a Linear to the classes, weights U(±0.5), bias 0 (its
    ``init_weights``); 4 classes over a 200-token vocabulary."""

    def __init__(self, unregistered=False):
        super().__init__()
        self.embedding, self.fc = nn.EmbeddingBag(200, 64, mode="mean"), nn.Linear(64, 4)
        nn.init.uniform_(self.embedding.weight, -0.5, 0.5)
        nn.init.uniform_(self.fc.weight, -0.5, 0.5)
        nn.init.zeros_(self.fc.bias)

    def forward(self, tokens):
        return self.fc(self.embedding(tokens))
