"""mlplab's curvature against curvlinops-for-pytorch (Dangel et al.'s linear operators for curvature matrices,
`HessianLinearOperator`), on the same PyTorch model and data in float64 (issue 27's check: the top-5
eigenvalues and the trace to 1e-4 relative).

curvlinops' operator is made dense once (its product with the identity, a few hundred columns), so its
spectrum and trace are exact; mlplab's top-5 come from its own Lanczos (`top_eigen`) on mlplab's network with
the same weights (`NetworkCurvature`), and its trace from Hutchinson, whose probes also go through curvlinops'
operator. mlplab's product for the torch model (`TorchCurvature`) is compared with curvlinops' on random
vectors; that its top-5 equal mlplab's is tests/test_curvature_torch.py's."""

import numpy as np
import pytest

from mlplab.curvature import NetworkCurvature, hutchinson_trace, top_eigen

torch = pytest.importorskip("torch")
curvlinops = pytest.importorskip("curvlinops", reason="curvlinops-for-pytorch (a dev dependency)")

from test_curvature_torch import _data, _pair, _torch_order  # noqa: E402

from mlplab.curvature.torch_hvp import TorchCurvature  # noqa: E402


def _curvlinops_hessian(model, X, y, batches):
    """curvlinops' Hessian of the mean cross-entropy over (X, y), fed in ``batches`` pieces (it weights each
    batch by its share of the data, as mlplab's chunks do), as a scipy LinearOperator."""
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y).long()
    data = list(zip(torch.tensor_split(Xt, batches), torch.tensor_split(yt, batches)))
    params = [p for p in model.parameters() if p.requires_grad]
    return curvlinops.HessianLinearOperator(model, torch.nn.CrossEntropyLoss(reduction="mean"), params,
                                            data).to_scipy()


@pytest.fixture(scope="module")
def setting():
    ours, theirs = _pair(sizes=(10, 14, 10, 4), act="tanh", seed=3)
    X, y = _data(n=90, seed=4)
    H = _curvlinops_hessian(theirs, X, y, batches=3)
    dense = H @ np.eye(H.shape[0])  # torch's parameter order
    return ours, theirs, X, y, H, (dense + dense.T) / 2


def test_top5_and_trace_agree_with_curvlinops(setting):
    ours, theirs, X, y, H, dense = setting
    w = np.linalg.eigvalsh(dense)
    mine = NetworkCurvature(ours, X, y)
    assert mine.n_params == H.shape[0]
    top_m, _ = top_eigen(mine.hvp, mine.n_params, k=5, rng=0)
    np.testing.assert_allclose(top_m, w[::-1][:5], rtol=1e-4)
    # the trace: mlplab's Hutchinson against curvlinops' exact trace, and the same probes through both operators
    perm = _torch_order(ours, mine)
    inverse = np.argsort(perm)
    tr_m = hutchinson_trace(mine.hvp, mine.n_params, samples=40, rng=5)
    tr_ref = hutchinson_trace(lambda z: (H @ z[perm])[inverse], mine.n_params, samples=40, rng=5)
    assert tr_m.value == pytest.approx(tr_ref.value, rel=1e-4)
    assert abs(tr_m.value - np.trace(dense)) <= 4 * tr_m.stderr
    # mlplab's product for the torch model itself, chunked differently from curvlinops' batches
    tc = TorchCurvature(theirs, X, y, chunk_size=40)
    rng = np.random.default_rng(6)
    for _ in range(3):
        v = rng.standard_normal(tc.n_params)
        np.testing.assert_allclose(tc.hvp(v), H @ v, rtol=1e-8, atol=1e-12)


def test_a_planted_bug_fails_the_comparison(setting):
    """The comparison can fail: mlplab's product with the Gauss–Newton part only (the Hessian without the
    network's own second derivatives) is off curvlinops' Hessian by more than the tolerance."""
    ours, _, X, y, _, dense = setting
    ggn = NetworkCurvature(ours, X, y, kind="ggn")
    top_g, _ = top_eigen(ggn.hvp, ggn.n_params, k=5, rng=0)
    assert not np.allclose(top_g, np.linalg.eigvalsh(dense)[::-1][:5], rtol=1e-4)
