"""The zoo's MLPs and CNNs (see :mod:`zoo.models` for how they were written and what ``unregistered`` plants)."""

from __future__ import annotations

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
