"""The works the lab reproduces, cited by title (``docs/sources.md`` is generated from this table).

Each study names the works it re-creates in ``Study.source`` (one line, in words) and lists their
keys in ``Study.works``; :func:`cite` turns a key into a reference a reader can look up.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Work:
    key: str
    title: str  # as published (a translation in parentheses where the original is not in English)
    by: str
    kind: str  # book, course, note, blog post
    where: str  # chapter, lecture or publication details
    url: str = ""
    what: str = ""  # what the lab takes from it


WORKS: dict[str, Work] = {w.key: w for w in [
    Work("dlfs", "Deep Learning from Scratch (ゼロから作るDeep Learning)", "Koki Saitō", "book",
         "O'Reilly Japan, 2016; chapter 6, \"Training Techniques\" (6.1 parameter updates, 6.2 initial "
         "weight values), and its scripts ch06/optimizer_compare_naive.py, optimizer_compare_mnist.py, "
         "weight_init_activation_histogram.py and weight_init_compare.py",
         "https://github.com/oreilly-japan/deep-learning-from-scratch",
         "the optimizer paths on F1/F2, the optimizer race on MNIST, the activation histograms and the "
         "initialization race (784-100x4-10 ReLU, 2000 iterations of batch 128)"),
    Work("cmu", "Deep Learning Systems: Algorithms and Implementation (10-414/714)", "Zico Kolter and Tianqi Chen",
         "course", "Carnegie Mellon University; lecture 6, \"Fully connected networks, optimization, "
         "initialization\"", "https://dlsyscourse.org/lectures/",
         "z_{i+1} = σ(z_i W_i + b_i), Newton's method, momentum in its EMA, unbiased and Nesterov forms, Adam, "
         "and the 50-layer ReLU network at σ² = 1/n, 2/n, 3/n with ‖W − W₀‖/‖W₀‖ after training"),
    Work("dlai", "Initializing neural networks", "Kian Katanforoosh and Daniel Kunin", "note",
         "deeplearning.ai, AI Notes, 2019", "https://www.deeplearning.ai/ai-notes/initialization/",
         "the 10-layer linear chain (W = 1.5·I, I, 0.5·I), and the 784-300x4-10 tanh race of zero, uniform, "
         "Xavier and standard normal initializations"),
    Work("post-updates-init", "简单总结一下深度学习中参数的更新和权重初始化的方法 (A short summary of parameter "
         "updates and weight initialization in deep learning)", "anonymous", "blog post",
         "notes on chapter 6 of Deep Learning from Scratch", "",
         "SGD, Momentum, AdaGrad, RMSProp, Adam on F1 and F2; AdaGrad's shrinking step; zero, std 0.01, Xavier "
         "and He initialization with sigmoid, tanh and ReLU"),
    Work("post-fc", "全连接神经网络 (Fully connected neural networks)", "anonymous", "blog post",
         "notes on lecture 6 of CMU 10-414/714 Deep Learning Systems", "",
         "the quadratic with Newton's method, step sizes around 2/λ_max, the momentum variants, and the "
         "depth experiment"),
    Work("post-nn-advanced", "2.1 卷积神经网络-神经网络进阶 (2.1 Convolutional neural networks: neural networks, "
         "advanced)", "anonymous", "blog post", "course notes", "",
         "full-batch, mini-batch and single-sample gradient descent; local minima and saddle points"),
    Work("post-dlai-init", "一文读懂神经网络初始化!吴恩达Deeplearning.ai最新干货 (Understand neural network "
         "initialization in one article: deeplearning.ai's latest)", "新智元 / 数据派THU (translation)",
         "blog post", "a Chinese translation of deeplearning.ai's note Initializing neural networks", "",
         "exploding and vanishing signals, and the initialization race"),
    Work("choi2019", "On Empirical Comparisons of Optimizers for Deep Learning", "Dami Choi, Christopher J. Shallue, "
         "Zachary Nado, Jaehoon Lee, Chris J. Maddison and George E. Dahl", "paper", "arXiv:1910.05446, 2019",
         "https://arxiv.org/abs/1910.05446",
         "the inclusion claim (SGD ⊆ Momentum ⊆ Adam: a more general optimizer never loses once its extra "
         "hyperparameters are tuned) and its protocol: learning rate, 1 − momentum, 1 − β₁, 1 − β₂ and ε searched "
         "on log scales, quasi-random points"),
    Work("post-weight-init", "DL基本知识(四)权重矩阵初始化 (DL basics (4): initializing weight matrices)", "anonymous",
         "blog post", "", "", "zero initialization and the symmetry it cannot break; Xavier; small random numbers"),
    Work("schoenholz2017", "Deep Information Propagation", "Samuel S. Schoenholz, Justin Gilmer, Surya Ganguli and "
         "Jascha Sohl-Dickstein", "paper", "ICLR 2017 (arXiv:1611.01232); §2–3, the tanh phase diagram",
         "https://arxiv.org/abs/1611.01232",
         "the length and correlation maps, χ₁, the depth scales ξ_q and ξ_c, the critical line of tanh (σ_w² = 1.761 "
         "at σ_b² = 0.05) and the ordered and chaotic phases"),
    Work("poole2016", "Exponential expressivity in deep neural networks through transient chaos", "Ben Poole, "
         "Subhaneil Lahiri, Maithra Raghu, Jascha Sohl-Dickstein and Surya Ganguli", "paper",
         "NeurIPS 2016 (arXiv:1606.05340)", "https://arxiv.org/abs/1606.05340",
         "the mean-field length and correlation maps of wide random networks, checked against finite networks"),
    Work("xiao2018", "Dynamical Isometry and a Mean Field Theory of CNNs: How to Train 10,000-Layer Vanilla "
         "Convolutional Neural Networks", "Lechao Xiao, Yasaman Bahri, Jascha Sohl-Dickstein, Samuel S. Schoenholz "
         "and Jeffrey Pennington", "paper", "ICML 2018 (arXiv:1806.05393)", "https://arxiv.org/abs/1806.05393",
         "the critical point σ_w² = 1.05, σ_b² = 2.01e-5 of tanh (q* ≈ 0.0259)"),
    Work("pennington2017", "Resurrecting the sigmoid in deep learning through dynamical isometry: theory and "
         "practice", "Jeffrey Pennington, Samuel S. Schoenholz and Surya Ganguli", "paper",
         "NeurIPS 2017 (arXiv:1711.04735); §2–3, the spectrum of the input–output Jacobian",
         "https://arxiv.org/abs/1711.04735",
         "the variance of JJᵀ's spectrum L(μ₂/μ₁² − 1 − s₁) for Gaussian and orthogonal weights, and "
         "orthogonal tanh at small q* as near-isometric"),
    Work("saxe2014", "Exact solutions to the nonlinear dynamics of learning in deep linear neural networks",
         "Andrew M. Saxe, James L. McClelland and Surya Ganguli", "paper", "ICLR 2014 (arXiv:1312.6120); §1–3",
         "https://arxiv.org/abs/1312.6120",
         "the mode-by-mode learning dynamics u(t) of deep linear networks from decoupled initial conditions"),
    Work("hanin2018", "How to start training: the effect of initialization and architecture", "Boris Hanin and "
         "David Rolnick", "paper", "NeurIPS 2018 (arXiv:1803.01719)", "https://arxiv.org/abs/1803.01719",
         "the spread of a relu network's output length at He initialization, ≈ 5β with β = Σ 1/n_j"),
    Work("cohen-eos", "Gradient Descent on Neural Networks Typically Occurs at the Edge of Stability",
         "Jeremy Cohen, Simran Kaur, Yuanzhi Li, J. Zico Kolter, Ameet Talwalkar", "paper",
         "ICLR 2021; Figure 1 (fc-tanh, MSE, full-batch GD at several η), the gradient-flow comparison and the "
         "heavy-ball limit (2 + 2β)/η", "https://arxiv.org/abs/2103.00065",
         "the edge-of-stability study: progressive sharpening, the sharpness hovering at 2/η while the loss falls "
         "non-monotonically, GD leaving gradient flow once it gets there"),
    Work("cohen-adaptive-eos", "Adaptive Gradient Methods at the Edge of Stability", "Jeremy M. Cohen, Behrooz "
         "Ghorbani, Shankar Krishnan, Naman Agarwal, Sourabh Medapati, Michal Badura, Daniel Suo, David Cardoze, "
         "Zachary Nado, George E. Dahl, Justin Gilmer", "paper", "arXiv 2022; the preconditioned sharpness "
         "λ₁(P⁻¹H) of full-batch Adam and its limit (2 + 2β₁)/((1 − β₁)η) = 38/η", "https://arxiv.org/abs/2207.14484",
         "the edge-of-stability study's Adam run: the preconditioned sharpness rising to 38/η and hovering there"),
]}


def cite(key: str) -> str:
    """``key`` as a one-line reference: *title*, by, where."""
    w = WORKS[key]
    parts = [f"*{w.title}*", w.by if w.by != "anonymous" else "", w.where]
    return ", ".join(p for p in parts if p)


def sources_markdown(studies) -> str:
    """docs/sources.md: every work, what the lab takes from it, and which studies use it."""
    lines = ["# Sources", "",
             "The works whose experiments the lab re-creates (generated from `mlplab.lab.sources` by "
             "`python -m mlplab.lab.docs`; do not edit by hand).", ""]
    for w in WORKS.values():
        used = [s.name for s in studies if w.key in s.works]
        by = f" by {w.by}" if w.by != "anonymous" else ""
        lines += [f'<a id="{w.key}"></a>', "", f"## {w.title}", "",
                  f"- {w.kind}{by}" + (f"; {w.where}" if w.where else "")]
        if w.url:
            lines.append(f"- {w.url}")
        if w.what:
            lines.append(f"- what the lab takes from it: {w.what}")
        if used:
            lines.append("- studies: " + ", ".join(f"[`{n}`](studies.md#{n})" for n in used))
        lines.append("")
    return "\n".join(lines)
