"""Train a small encoder-decoder Transformer to reverse sequences of digits - the PyTorch way.

    pip install -e ".[examples]"
    python examples/train_transformer.py                 # CPU
    python examples/train_transformer.py --device cuda   # a CUDA GPU

The task is made on the fly (random digit strings and their reversal), so nothing is
downloaded. The decoder is trained with teacher forcing and evaluated by greedy decoding;
the script ends with a line `exact-match accuracy: 0.9xx` (every digit of the reversed
sequence right).
"""
import argparse
import os
import time

# The model is tiny (64 sequences x 8 tokens x 64 features): splitting such work across threads
# costs more than it saves, and on a shared machine parallel kernels wait for busy cores. One
# thread is fastest here; set these variables yourself to override.
for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np
from tqdm import tqdm

import nnlite
from nnlite import nn, optim

DIGITS = 10
BOS = DIGITS          # the decoder's start token
VOCAB = DIGITS + 1


class Reverser(nn.Module):
    def __init__(self, seq_len, d_model=64, nhead=4, layers=2, dim_feedforward=128):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, d_model)
        self.pos = nn.Parameter(nnlite.randn(1, seq_len, d_model) * 0.1)  # learned positions
        self.transformer = nn.Transformer(d_model, nhead, layers, layers, dim_feedforward, dropout=0.0,
                                          batch_first=True)
        self.head = nn.Linear(d_model, DIGITS)

    def forward(self, src, tgt_in):
        n = tgt_in.size(1)
        mask = nn.Transformer.generate_square_subsequent_mask(n, device=src.device)
        x = self.embed(src) + self.pos
        y = self.embed(tgt_in) + self.pos[:, :n]
        return self.head(self.transformer(x, y, tgt_mask=mask, tgt_is_causal=True))


def make_batch(rng, batch_size, seq_len, device):
    """(source digits, decoder input [BOS, reversed[:-1]], target = reversed)."""
    src = rng.integers(0, DIGITS, size=(batch_size, seq_len))
    target = src[:, ::-1]
    tgt_in = np.concatenate([np.full((batch_size, 1), BOS), target[:, :-1]], axis=1)
    to = lambda a: nnlite.tensor(np.ascontiguousarray(a, dtype=np.int64), device=device)  # noqa: E731
    return to(src), to(tgt_in), to(target)


def greedy_decode(model, src):
    """Decode one digit at a time, feeding each prediction back."""
    tgt = nnlite.full((src.size(0), 1), BOS, dtype=nnlite.int64, device=src.device)
    for _ in range(src.size(1)):
        next_digit = model(src, tgt)[:, -1].argmax(-1)
        tgt = nnlite.cat([tgt, next_digit.reshape(-1, 1)], 1)
    return tgt[:, 1:]


def evaluate(model, src, target):
    model.eval()
    with nnlite.no_grad():
        predicted = greedy_decode(model, src)
    model.train()
    return (predicted == target).all(1).float().mean().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--eval-size", type=int, default=1000, help="held-out sequences for the accuracy")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    nnlite.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = Reverser(args.seq_len).to(args.device)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    test_src, _, test_target = make_batch(np.random.default_rng(args.seed + 1), args.eval_size, args.seq_len,
                                            args.device)
    print(f"{sum(p.numel() for p in model.parameters())} parameters, reversing {args.seq_len} digits, "
          f"device {args.device}")

    start = time.perf_counter()
    bar = tqdm(range(1, args.steps + 1), desc="training", mininterval=0.5)
    for step in bar:
        for group in optimizer.param_groups:  # linear warm-up, then linear decay
            group["lr"] = args.lr * min(step / 50, (args.steps - step + 1) / (args.steps - 50))
        src, tgt_in, target = make_batch(rng, args.batch_size, args.seq_len, args.device)
        optimizer.zero_grad()
        logits = model(src, tgt_in)
        loss = loss_fn(logits.reshape(-1, DIGITS), target.reshape(-1))
        loss.backward()
        optimizer.step()
        bar.set_postfix(loss=f"{loss.item():.4f}")
        if step % 200 == 0:
            tqdm.write(f"step {step:4d}: loss {loss.item():.4f}, "
                       f"exact match {evaluate(model, test_src[:200], test_target[:200]):.3f}")
    print(f"trained in {time.perf_counter() - start:.1f} s")
    print(f"exact-match accuracy: {evaluate(model, test_src, test_target):.3f}")


if __name__ == "__main__":
    main()
