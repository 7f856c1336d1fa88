"""The zoo's model definitions, written for this benchmark from the architectures of public repositories
(each class cites the repository and path its architecture comes from; the code is this project's own).
Sizes are cut down where a model was made for larger images or vocabularies, so one short training run
stays affordable on a shared 2-core machine; each entry of :data:`ZOO` says so.

Every factory takes ``unregistered=False``; where the architecture has a stack of blocks, ``True`` keeps
those blocks in a plain Python list (a common mistake: ``model.parameters()`` does not see them, so the
optimizer never updates them) — the planted failure "unregistered layers".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


def _stack(modules, unregistered: bool):
    """The blocks as an nn.ModuleList, or (the planted mistake) a plain list the optimizer never sees."""
    return list(modules) if unregistered else nn.ModuleList(modules)


# ---------------------------------------------------------------------------------------------- MLPs
class TutorialMLP(nn.Module):
    """pytorch/tutorials beginner_source/basics/buildmodel_tutorial.py, ``NeuralNetwork``: Flatten,
    Linear(784, 512), ReLU, Linear(512, 512), ReLU, Linear(512, 10)."""

    def __init__(self, unregistered=False):
        super().__init__()
        self.flatten = nn.Flatten()
        self.stack = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))

    def forward(self, x):
        return self.stack(self.flatten(x))


class DeepMLP(nn.Module):
    """A deep plain MLP, ``depth`` weight layers of ``width`` units with one activation: the "deep MLP" of
    the initialization tutorials (Glorot & Bengio 2010's experiments; deeplearning.ai's *Initializing neural
    networks*). Hidden layers in a ModuleList (or a plain list: unregistered)."""

    def __init__(self, depth=6, width=128, act=nn.ReLU, unregistered=False):
        super().__init__()
        self.inp = nn.Linear(784, width)
        self.hidden = _stack([nn.Linear(width, width) for _ in range(depth - 2)], unregistered)
        self.out = nn.Linear(width, 10)
        self.act = act()

    def forward(self, x):
        h = self.act(self.inp(x.flatten(1)))
        for lin in self.hidden:
            h = self.act(lin(h))
        return self.out(h)


class TiedAutoencoder(nn.Module):
    """A tied-weight autoencoder (the decoder uses the encoder's transposed weights, as in Vincent et al.'s
    denoising autoencoders; e.g. the ``TiedAutoEncoder`` of many PyTorch tutorials) with a classifier on the
    reconstruction: 784 → 256 → 64 → 256 → 784 (decoder weights W2ᵀ, W1ᵀ) → 10. Each encoder weight is used twice."""

    def __init__(self, unregistered=False):
        super().__init__()
        self.enc1, self.enc2 = nn.Linear(784, 256), nn.Linear(256, 64)
        self.dec2_bias, self.dec1_bias = nn.Parameter(torch.zeros(256)), nn.Parameter(torch.zeros(784))
        self.head = nn.Linear(784, 10)

    def forward(self, x):
        h = torch.relu(self.enc1(x.flatten(1)))
        code = torch.relu(self.enc2(h))
        h = torch.relu(F.linear(code, self.enc2.weight.t(), self.dec2_bias))
        recon = F.linear(h, self.enc1.weight.t(), self.dec1_bias)
        return self.head(recon)


class SharedLinear(nn.Module):
    """One hidden Linear applied four times (weight sharing across depth, as in a recurrent net unrolled over
    a fixed depth, or ALBERT's shared layers): 784 → 128, then the same 128 → 128 ReLU layer ×4, then → 10."""

    def __init__(self, unregistered=False):
        super().__init__()
        self.inp, self.shared, self.out = nn.Linear(784, 128), nn.Linear(128, 128), nn.Linear(128, 10)

    def forward(self, x):
        h = torch.relu(self.inp(x.flatten(1)))
        for _ in range(4):
            h = torch.relu(self.shared(h))
        return self.out(h)


# ---------------------------------------------------------------------------------------------- CNNs
class MnistNet(nn.Module):
    """pytorch/examples mnist/main.py, ``Net``: conv 1→32 (3×3), ReLU, conv 32→64 (3×3), ReLU, max-pool 2,
    dropout 0.25, Linear(9216, 128), ReLU, dropout 0.5, Linear(128, 10), log-softmax."""

    def __init__(self, unregistered=False):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 32, 3, 1), nn.Conv2d(32, 64, 3, 1)
        self.dropout1, self.dropout2 = nn.Dropout(0.25), nn.Dropout(0.5)
        self.fc1, self.fc2 = nn.Linear(9216, 128), nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        x = self.dropout1(F.max_pool2d(x, 2))
        x = self.dropout2(F.relu(self.fc1(torch.flatten(x, 1))))
        return F.log_softmax(self.fc2(x), dim=1)


class LeNet5(nn.Module):
    """LeNet-5 (LeCun, Bottou, Bengio & Haffner, *Gradient-based learning applied to document recognition*,
    1998) as commonly re-implemented in PyTorch: conv 1→6 (5×5, padding 2), tanh, average pool 2, conv 6→16
    (5×5), tanh, average pool 2, Linear 400→120, tanh, 120→84, tanh, 84→10."""

    def __init__(self, unregistered=False):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
        self.pool = nn.AvgPool2d(2)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(torch.tanh(self.conv1(x)))
        x = self.pool(torch.tanh(self.conv2(x)))
        x = torch.tanh(self.fc1(x.flatten(1)))
        return self.fc3(torch.tanh(self.fc2(x)))


class TutorialCNN(nn.Module):
    """pytorch/tutorials beginner_source/blitz/cifar10_tutorial.py, ``Net`` (conv 6 and 16 channels 5×5, ReLU,
    max-pool 2, Linear 120, 84, 10), with one input channel for MNIST (so Linear(16·4·4, 120))."""

    def __init__(self, unregistered=False):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1, self.fc2, self.fc3 = nn.Linear(256, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc3(F.relu(self.fc2(x)))


class _BasicBlock(nn.Module):
    """akamaster/pytorch_resnet_cifar10 resnet.py's BasicBlock: conv3×3-BN-ReLU-conv3×3-BN, plus the
    shortcut (option A: stride-2 subsampling and zero-padded channels, no parameters), then ReLU."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.pad = (c_out - c_in) // 2 if (stride != 1 or c_in != c_out) else None

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x if self.pad is None else F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(out + short)


class CifarResNet(nn.Module):
    """akamaster/pytorch_resnet_cifar10 resnet.py, ``ResNet`` with ``BasicBlock`` (He et al. 2016's CIFAR
    ResNets: 6n + 2 layers, 16/32/64 channels; resnet20 is n = 3, resnet56 n = 9), Kaiming-normal conv and
    Linear weights as that file's ``_weights_init``; one input channel for MNIST."""

    def __init__(self, n=3, unregistered=False):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16)
        blocks, c = [], 16
        for c_out, stride in ((16, 1), (32, 2), (64, 2)):
            for k in range(n):
                blocks.append(_BasicBlock(c, c_out, stride if k == 0 else 1))
                c = c_out
        self.blocks = _stack(blocks, unregistered)
        self.linear = nn.Linear(64, 10)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.kaiming_normal_(m.weight)
        for b in blocks:  # a plain list is not among self.modules()
            for m in b.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        for b in self.blocks:
            out = b(out)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


class VGG11BN(nn.Module):
    """pytorch/vision torchvision/models/vgg.py, configuration "A" (VGG-11) with batch norm, every width
    divided by 8 (8, M, 16, M, 32, 32, M, 64, 64, M, 64, 64, M) and a classifier 64 → 64 → 64 → 10 (dropout 0.5)
    for 32×32 input (MNIST padded by 2)."""

    CFG = (8, "M", 16, "M", 32, 32, "M", 64, 64, "M", 64, 64, "M")

    def __init__(self, unregistered=False):
        super().__init__()
        layers, c = [], 1
        for v in self.CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(64, 64), nn.ReLU(True), nn.Dropout(0.5), nn.Linear(64, 64),
                                        nn.ReLU(True), nn.Dropout(0.5), nn.Linear(64, 10))
        for m in self.modules():  # torchvision's init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = F.pad(x, (2, 2, 2, 2))
        return self.classifier(torch.flatten(self.features(x), 1))


class DCGANDiscriminator(nn.Module):
    """pytorch/examples dcgan/main.py, ``Discriminator`` (conv 4×4 stride 2, LeakyReLU 0.2, BatchNorm from
    the second conv on), ndf = 16, for 32×32 input (MNIST padded by 2), its last conv giving 10 class
    logits instead of one sigmoid; DCGAN's N(0, 0.02) conv init and N(1, 0.02) BatchNorm weights."""

    def __init__(self, unregistered=False):
        super().__init__()
        ndf = 16
        self.main = nn.Sequential(
            nn.Conv2d(1, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(ndf * 4, 10, 4, 1, 0, bias=False))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.main(F.pad(x, (2, 2, 2, 2))).flatten(1)


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


# ---------------------------------------------------------------------------------------------- the zoo
@dataclass(frozen=True)
class Entry:
    name: str
    make: object  # factory(unregistered=False) -> nn.Module
    task: str  # mnist-image, mnist-flat, tokens-next, tokens-bag
    source: str  # the public repository and path of the architecture
    classes: int = 10
    can_unregister: bool = False


ZOO = [
    Entry("tutorial_mlp", TutorialMLP, "mnist-flat", "pytorch/tutorials beginner_source/basics/buildmodel_tutorial.py"),
    Entry("mlp6_relu", lambda unregistered=False: DeepMLP(6, 128, nn.ReLU, unregistered), "mnist-flat",
          "Glorot & Bengio 2010 (deep MLP)", can_unregister=True),
    Entry("mlp10_tanh", lambda unregistered=False: DeepMLP(10, 128, nn.Tanh, unregistered), "mnist-flat",
          "Glorot & Bengio 2010 (deep MLP)", can_unregister=True),
    Entry("mlp5_sigmoid", lambda unregistered=False: DeepMLP(5, 128, nn.Sigmoid, unregistered), "mnist-flat",
          "Glorot & Bengio 2010 (deep MLP)", can_unregister=True),
    Entry("mlp20_relu", lambda unregistered=False: DeepMLP(20, 64, nn.ReLU, unregistered), "mnist-flat",
          "Glorot & Bengio 2010 (deep MLP)", can_unregister=True),
    Entry("tied_autoencoder", TiedAutoencoder, "mnist-flat", "Vincent et al. 2008 (tied-weight autoencoder)"),
    Entry("shared_linear_x4", SharedLinear, "mnist-flat", "one Linear reused four times (ALBERT-style sharing)"),
    Entry("mnist_cnn", MnistNet, "mnist-image", "pytorch/examples mnist/main.py"),
    Entry("lenet5_tanh_avgpool", LeNet5, "mnist-image", "LeCun et al. 1998 (LeNet-5)"),
    Entry("tutorial_cnn", TutorialCNN, "mnist-image", "pytorch/tutorials beginner_source/blitz/cifar10_tutorial.py"),
    Entry("resnet20", lambda unregistered=False: CifarResNet(3, unregistered), "mnist-image",
          "akamaster/pytorch_resnet_cifar10 resnet.py", can_unregister=True),
    Entry("vgg11_bn", VGG11BN, "mnist-image", "pytorch/vision torchvision/models/vgg.py"),
    Entry("dcgan_discriminator", DCGANDiscriminator, "mnist-image", "pytorch/examples dcgan/main.py"),
    Entry("mlp_mixer", MLPMixer, "mnist-image", "lucidrains/mlp-mixer-pytorch mlp_mixer_pytorch/mlp_mixer_pytorch.py",
          can_unregister=True),
    Entry("vit_small", SmallViT, "mnist-image", "lucidrains/vit-pytorch vit_pytorch/vit.py", can_unregister=True),
    Entry("row_gru", RowGRU, "mnist-image",
          "yunjey/pytorch-tutorial tutorials/02-intermediate/recurrent_neural_network/main.py"),
    Entry("makemore_mlp", MakemoreMLP, "tokens-next", "karpathy/makemore makemore.py", classes=VOCAB),
    Entry("makemore_transformer", MakemoreTransformer, "tokens-next", "karpathy/makemore makemore.py",
          classes=VOCAB, can_unregister=True),
    Entry("makemore_gru", MakemoreGRU, "tokens-next", "karpathy/makemore makemore.py", classes=VOCAB),
    Entry("word_lm_tied", WordLM, "tokens-next", "pytorch/examples word_language_model/model.py", classes=VOCAB),
    Entry("text_embeddingbag", TextClassifier, "tokens-bag",
          "pytorch/tutorials beginner_source/text_sentiment_ngrams_tutorial.py", classes=4),
]
BY_NAME = {e.name: e for e in ZOO}

# ---------------------------------------------------------------------------------------------- planted inits
INITS = ("default", "N(0,1)", "zeros", "std=0.01", "unregistered")


def build(entry: Entry, init: str = "default", seed: int = 0) -> nn.Module:
    """The model of ``entry`` at ``init``: its default, or every weight matrix (Linear, conv, embedding,
    recurrent; ndim ≥ 2) redrawn N(0, 1), set to 0 or drawn N(0, 0.01²), biases and norms left as they are;
    or "unregistered" (its blocks in a plain list)."""
    torch.manual_seed(seed)
    model = entry.make(unregistered=init == "unregistered")
    if init in ("default", "unregistered"):
        return model
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim < 2 or name.endswith(("cls", "pos", "start")):
                continue
            if init == "zeros":
                p.zero_()
            else:
                p.copy_(torch.randn(p.shape, generator=g) * (1.0 if init == "N(0,1)" else 0.01))
    return model
