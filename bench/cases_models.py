"""Whole-model rows (issue 14): one definition in bench/models.py builds both models, torch's
initial weights are copied into nnlite's, both see the same data, and each step is what a
training loop does (zero_grad, forward, cross_entropy, backward, SGD-momentum step)."""
import numpy as np

from cases import Case
from models import mobilenet_v2, resnet18, train_step, transformer_classifier, twin_models


def _data(device, x_shape, classes, seed=0):
    """The same float32 batch and int64 targets for both libraries."""
    import nnlite
    import torch
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(np.float32)
    target = rng.integers(0, classes, x_shape[0]).astype(np.int64)
    return ((nnlite.tensor(x, device=device), nnlite.tensor(target, device=device)),
            (torch.tensor(x, device=device), torch.tensor(target, device=device)))


class TrainSetup:
    """One library's side of a training row: model, SGD-momentum optimizer, batch and targets."""

    def __init__(self, functional, model, opt, x, target):
        self.F, self.model, self.opt, self.x, self.target = functional, model, opt, x, target

    def step(self):
        return train_step(self.F, self.model, self.opt, self.x, self.target)


def train_setups(make, device, x_shape, classes, **kw):
    """(nnlite TrainSetup, torch TrainSetup): SGD lr 0.01 momentum 0.9 on twin models in training mode."""
    import nnlite
    import torch
    ours, theirs = twin_models(make, device, num_classes=classes, **kw)
    ours.train()
    theirs.train()
    (x, t), (tx, tt) = _data(device, x_shape, classes)
    opt = nnlite.optim.SGD(ours.parameters(), lr=0.01, momentum=0.9)
    topt = torch.optim.SGD(theirs.parameters(), lr=0.01, momentum=0.9)
    return TrainSetup(nnlite.nn.functional, ours, opt, x, t), TrainSetup(torch.nn.functional, theirs, topt, tx, tt)


def inference_pair(make, device, x_shape, classes=1000):
    """(nnlite forward, torch forward) in eval mode, nnlite under no_grad, torch under inference_mode."""
    import nnlite
    import torch
    ours, theirs = twin_models(make, device, num_classes=classes)
    ours.eval()
    theirs.eval()
    (x, _), (tx, _) = _data(device, x_shape, classes)

    def nl():
        with nnlite.no_grad():
            return ours(x)

    def th():
        with torch.inference_mode():
            return theirs(tx)
    return nl, th


def resnet18_setups(device):
    return train_setups(resnet18, device, (16, 3, 128, 128), 1000)


def mobilenet_v2_setups(device):
    return train_setups(mobilenet_v2, device, (16, 3, 128, 128), 1000)


def transformer_setups(device):
    import nnlite
    if not hasattr(nnlite.nn, "TransformerEncoder"):
        raise NotImplementedError("nnlite.nn.TransformerEncoder does not exist yet")
    return train_setups(transformer_classifier, device, (16, 128, 256), 10)


def _steps(setups):
    def build(device):
        ours, theirs = setups(device)
        return ours.step, theirs.step
    return build


def resnet18_inference(device):
    return inference_pair(resnet18, device, (1, 3, 224, 224))


MODEL_SETUPS = {  # for bench/profile_model.py: name -> device -> (nnlite TrainSetup, torch TrainSetup)
    "resnet18": resnet18_setups,
    "mobilenet_v2": mobilenet_v2_setups,
    "transformer": transformer_setups,
}

BENCH_CASES = [
    Case("model ResNet-18 train step b16 128x128", _steps(resnet18_setups), bar=1.2, repeat=3),
    Case("model ResNet-18 inference b1 224x224", resnet18_inference, bar=1.2, repeat=10),
    Case("model MobileNetV2 train step b16 128x128", _steps(mobilenet_v2_setups), bar=1.0, repeat=3),
    Case("model TransformerEncoder 6L d256 seq128 b16 train step", _steps(transformer_setups), bar=1.2, repeat=3),
]
