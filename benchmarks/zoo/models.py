"""The zoo's model definitions, written for this benchmark from the architectures of public repositories
(each class cites the repository and path its architecture comes from; the code is this project's own).
Sizes are cut down where a model was made for larger images or vocabularies, so one short training run
stays affordable on a shared 2-core machine; each entry of :data:`ZOO` says so.

Every factory takes ``unregistered=False``; where the architecture has a stack of blocks, ``True`` keeps
those blocks in a plain Python list (a common mistake: ``model.parameters()`` does not see them, so the
optimizer never updates them) — the planted failure "unregistered layers".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .attention_rnn import (
    BLOCK,
    VOCAB,
    MakemoreGRU,
    MakemoreMLP,
    MakemoreTransformer,
    MLPMixer,
    RowGRU,
    SmallViT,
    TextClassifier,
    WordLM,
)
from .mlp_cnn import (
    VGG11BN,
    CifarResNet,
    DCGANDiscriminator,
    DeepMLP,
    LeNet5,
    MnistNet,
    SharedLinear,
    TiedAutoencoder,
    TutorialCNN,
    TutorialMLP,
)

__all__ = ["BLOCK", "VOCAB", "Entry", "ZOO", "BY_NAME", "INITS", "build"]


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
