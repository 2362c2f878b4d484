"""Whole models for the bench, written in torch's style and parametrised by the library's `nn`
module, so that ONE definition builds both the nnlite model (`nnlite.nn`) and the torch model
(`torch.nn`): the rows then compare like with like.

ResNet-18 follows torchvision's architecture (7x7 stride-2 stem, 3x3 stride-2 max-pool, four
stages of two BasicBlocks, 1x1 stride-2 downsample convs, global average pool, fc); MobileNetV2
follows torchvision's too (inverted residuals, ReLU6, depthwise 3x3 convs). These are bench
fixtures, not part of the package.
"""


def _conv3x3(nn, cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def basic_block(nn, cin, cout, stride):
    """torchvision's BasicBlock: conv-bn-relu-conv-bn, plus the (downsampled) input, then relu."""

    class BasicBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = _conv3x3(nn, cin, cout, stride)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = _conv3x3(nn, cout, cout)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                                nn.BatchNorm2d(cout))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += identity
            return self.relu(out)

    return BasicBlock()


def resnet18(nn, num_classes=1000, widths=(64, 128, 256, 512)):
    """torchvision.models.resnet18's layers and state_dict keys; `widths` shrinks it for tests."""

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, widths[0], 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(widths[0])
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
            cin = widths[0]
            for i, cout in enumerate(widths):
                stride = 1 if i == 0 else 2
                setattr(self, f"layer{i + 1}", nn.Sequential(basic_block(nn, cin, cout, stride),
                                                             basic_block(nn, cout, cout, 1)))
                cin = cout
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.flatten = nn.Flatten(1)
            self.fc = nn.Linear(widths[-1], num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.flatten(self.avgpool(x)))

    return ResNet()


def _conv_bn_relu6(nn, cin, cout, kernel=3, stride=1, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


def _make_divisible(v, divisor=8):
    """torchvision's channel rounding: to a multiple of 8, never below 90% of v."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def inverted_residual(nn, cin, cout, stride, expand):
    """Expand (1x1) -> depthwise 3x3 -> project (1x1, linear); a skip when shapes allow."""

    class InvertedResidual(nn.Module):
        def __init__(self):
            super().__init__()
            hidden = int(round(cin * expand))
            self.use_res_connect = stride == 1 and cin == cout
            layers = [] if expand == 1 else [_conv_bn_relu6(nn, cin, hidden, kernel=1)]
            layers += [_conv_bn_relu6(nn, hidden, hidden, stride=stride, groups=hidden),
                       nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
            self.conv = nn.Sequential(*layers)

        def forward(self, x):
            return x + self.conv(x) if self.use_res_connect else self.conv(x)

    return InvertedResidual()


MOBILENET_V2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                         (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))  # expand t, channels c, repeats n, stride s


def mobilenet_v2(nn, num_classes=1000, width_mult=1.0, dropout=0.2, settings=MOBILENET_V2_SETTINGS,
                 last_channel=1280):
    """torchvision.models.mobilenet_v2's layers and state_dict keys (`settings` shrinks it for tests)."""

    class MobileNetV2(nn.Module):
        def __init__(self):
            super().__init__()
            cin = _make_divisible(32 * width_mult)
            last = _make_divisible(last_channel * max(1.0, width_mult))
            features = [_conv_bn_relu6(nn, 3, cin, stride=2)]
            for t, c, n, s in settings:
                cout = _make_divisible(c * width_mult)
                for i in range(n):
                    features.append(inverted_residual(nn, cin, cout, s if i == 0 else 1, t))
                    cin = cout
            features.append(_conv_bn_relu6(nn, cin, last, kernel=1))
            self.features = nn.Sequential(*features)
            self.pool = nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(1))
            self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))

        def forward(self, x):
            return self.classifier(self.pool(self.features(x)))

    return MobileNetV2()


def transformer_classifier(nn, d_model=256, nhead=8, layers=6, dim_feedforward=1024, num_classes=10,
                           dropout=0.1):
    """A 6-layer TransformerEncoder (batch_first) on (N, S, d_model) tokens, mean-pooled, then a
    linear head: the encoder's training step with a classification loss."""

    class TransformerClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers)
            self.head = nn.Linear(d_model, num_classes)

        def forward(self, x):
            return self.head(self.encoder(x).mean(1))

    return TransformerClassifier()


# ---------------------------------------------------------------- one model, two libraries


def torch_state_as_numpy(model):
    """torch's state_dict as numpy arrays (nnlite's load_state_dict takes them)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def twin_models(make, device="cpu", seed=0, **kw):
    """(nnlite model, torch model) from one definition `make(nn, **kw)`, with torch's freshly
    initialised weights and buffers copied into the nnlite model."""
    import nnlite
    import torch
    torch.manual_seed(seed)
    theirs = make(torch.nn, **kw).to(device)
    ours = make(nnlite.nn, **kw)
    ours.load_state_dict(torch_state_as_numpy(theirs))
    return ours.to(device), theirs


def train_step(F, model, optimizer, x, target):
    """One SGD step as a training loop writes it; returns the loss tensor."""
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), target)
    loss.backward()
    optimizer.step()
    return loss
