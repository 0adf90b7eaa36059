"""The COVER training step in plain PyTorch eager, written the straightforward way: the
baseline that cover-torch's public API is measured against (bench/compare.js).

MoV from shifted-window products with a softmax over the whole window, warps with
grid_sample (align_corners = True on positions normalised by S - 1), Adam with L2 weight
decay, gradient clipping. Module names follow the PyTorch state_dict that cover-torch
writes, so the same module also loads cover-torch's safetensors and checks that both
compute the same forward.

    python cover_step.py time --dims 2 --size 128 --batch 4 --steps 6 --threads 2
    python cover_step.py time --dims 3 --size 128 --batch 2 --device cuda [--bf16]
    python cover_step.py check WEIGHTS.safetensors CASE.safetensors
    python cover_step.py export WEIGHTS.safetensors CASE.safetensors --dims 3 --channels 8,16,16,16,16

Each command prints one JSON line. Needs torch only (the one cover-torch was built against:
PYTHONPATH=<its folder>).
"""

import argparse
import json
import math
import resource
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------- network


def conv(dims, cin, cout, kernel):
    return (nn.Conv2d if dims == 2 else nn.Conv3d)(cin, cout, kernel, padding=kernel // 2)


class DoubleConv(nn.Module):
    def __init__(self, dims, cin, cout):
        super().__init__()
        self.double_conv = nn.Sequential(
            conv(dims, cin, cout, 3), nn.GroupNorm(cout // 8, cout), nn.LeakyReLU(0.2),
            conv(dims, cout, cout, 3), nn.GroupNorm(cout // 8, cout), nn.LeakyReLU(0.2))

    def forward(self, x):
        return self.double_conv(x)


class Down(nn.Module):
    def __init__(self, dims, cin, cout):
        super().__init__()
        pool = nn.MaxPool2d(2) if dims == 2 else nn.MaxPool3d(2)
        self.maxpool_conv = nn.Sequential(pool, DoubleConv(dims, cin, cout))

    def forward(self, x):
        return self.maxpool_conv(x)


class Up(nn.Module):
    def __init__(self, dims, cin, cout):
        super().__init__()
        self.mode = 'bilinear' if dims == 2 else 'trilinear'
        self.conv = DoubleConv(dims, cin, cout)

    def forward(self, coarse, skip):
        up = F.interpolate(coarse, scale_factor=2, mode=self.mode, align_corners=False)
        return self.conv(torch.cat([skip, up], 1))


class UNet(nn.Module):
    def __init__(self, dims, cin=1, c=(32, 64, 128, 256, 512)):
        super().__init__()
        self.inc = DoubleConv(dims, cin, c[0])
        for i in range(4):
            setattr(self, f'down{i + 1}', Down(dims, c[i], c[i + 1]))
        for i in range(4):
            setattr(self, f'up{i + 1}', Up(dims, c[4 - i] + c[3 - i], c[3 - i]))

    def forward(self, x):
        skips = [self.inc(x)]
        for i in range(4):
            skips.append(getattr(self, f'down{i + 1}')(skips[-1]))
        pyramid = [None] * 5
        pyramid[4] = x = skips[4]
        for i in range(4):
            x = getattr(self, f'up{i + 1}')(x, skips[3 - i])
            pyramid[3 - i] = x
        return pyramid  # F1 (full) .. F5 (1/16)


class Projection(nn.Module):
    def __init__(self, dims, cin, cout):
        super().__init__()
        self.norm = nn.GroupNorm(1, cout)
        self.proj = conv(dims, cin, cout, 1)

    def forward(self, x):
        return self.norm(self.proj(x))


class Window(nn.Module):
    """The MoV window's offsets, -r..r per array axis, as the buffer `grid` of shape
    (2r+1, ..., 2r+1, n): state_dicts of the method's module carry it as `mov.grid`."""

    def __init__(self, dims, radius):
        super().__init__()
        axes = [torch.arange(-radius, radius + 1, dtype=torch.float32)] * dims
        self.register_buffer('grid', torch.stack(torch.meshgrid(*axes, indexing='ij'), -1))


def mov(q, k, heads, window):
    """Softmax over the (2r+1)^n window of scaled per-head products; expected offset."""
    dims = q.dim() - 2
    radius = (window.shape[0] - 1) // 2
    b, c = q.shape[:2]
    spatial = q.shape[2:]
    padded = F.pad(k, [radius] * (2 * dims))
    inside = F.pad(torch.ones_like(k[:, :1]), [radius] * (2 * dims))
    qh = q.reshape(b, c // heads, heads, *spatial)
    offsets, logits = [], []
    for offset in window.reshape(-1, dims).round().long().tolist():
        index = tuple(slice(radius + o, radius + o + s) for o, s in zip(offset, spatial))
        shifted = padded[(slice(None), slice(None)) + index].reshape(b, c // heads, heads, *spatial)
        logit = (qh * shifted).sum(1) / math.sqrt(c // heads)
        valid = inside[(slice(None), 0) + index].unsqueeze(1) > 0
        logits.append(torch.where(valid, logit, torch.full_like(logit, -1000.0)))
        offsets.append(offset)
    p = torch.softmax(torch.stack(logits, 2), 2)  # (B, J, W, *S)
    table = torch.tensor(offsets, dtype=q.dtype, device=q.device)  # (W, n)
    shape = [1, 1, len(offsets)] + [1] * dims
    return torch.stack([(p * table[:, i].reshape(shape)).sum(2).mean(1) for i in range(dims)], 1)


def warp(src, psi):
    dims = src.dim() - 2
    spatial = src.shape[2:]
    coords = []
    for axis in reversed(range(dims)):
        shape = [1] * (dims + 1)
        shape[axis + 1] = spatial[axis]
        grid = torch.arange(spatial[axis], dtype=psi.dtype, device=psi.device).reshape(shape)
        coords.append((psi[:, axis] + grid) * (2.0 / (spatial[axis] - 1)) - 1)
    return F.grid_sample(src, torch.stack(coords, -1), mode='bilinear', padding_mode='zeros', align_corners=True)


def up2(field):
    mode = 'bilinear' if field.dim() == 4 else 'trilinear'
    return F.interpolate(field, scale_factor=2, mode=mode, align_corners=True)


class Cover(nn.Module):
    def __init__(self, dims, heads=(4, 4, 4, 1, 1), head_dim=8, radius=2, c=(32, 64, 128, 256, 512)):
        super().__init__()
        self.heads = heads
        self.backbone = UNet(dims, 1, c)
        self.proj = nn.ModuleList(Projection(dims, c[4 - l], head_dim * heads[l]) for l in range(5))
        self.mov = Window(dims, radius)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv3d)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, moving, fixed):
        b = moving.shape[0]
        pyramid = self.backbone(torch.cat([moving, fixed]))
        m = [x[:b] for x in pyramid]
        f = [x[b:] for x in pyramid]
        w = 2 * mov(self.proj[0](f[4]), self.proj[0](m[4]), self.heads[0], self.mov.grid)
        psi = up2(w)
        for level in (1, 2, 3):
            scale = 4 - level
            warped = warp(m[scale], psi)
            w = up2(2 * mov(self.proj[level](f[scale]), self.proj[level](warped), self.heads[level], self.mov.grid))
            psi = warp(up2(2 * psi), w) + w
        w = mov(self.proj[4](f[0]), self.proj[4](warp(m[0], psi)), self.heads[4], self.mov.grid)
        return warp(psi, w) + w, m[0], f[0]


# ---------------------------------------------------------------------------- a step


def views(images, crop, generator, degree=0.5):
    """Moving = a crop; fixed = the image at an affine map of the crop's grid; target psi."""
    b, dims = images.shape[0], images.dim() - 2
    source = images.shape[2:]
    axes = [torch.arange(s, dtype=torch.float32) for s in crop]
    grid = torch.stack(torch.meshgrid(*axes, indexing='ij'), 0)  # (n, *P)
    moving, fixed, target, mask = [], [], [], []
    for i in range(b):
        corner = [int(torch.randint(0, s - p + 1, (1,), generator=generator)) for s, p in zip(source, crop)]
        linear = torch.eye(dims) + (torch.rand(dims, dims, generator=generator) * 2 - 1) * degree * 0.2
        shift = (torch.rand(dims, generator=generator) * 2 - 1) * degree * 0.2 * torch.tensor(source, dtype=torch.float32)
        centre = torch.tensor(crop, dtype=torch.float32).reshape(dims, *([1] * dims)) / 2
        mapped = torch.einsum('ij,j...->i...', linear, grid - centre) + centre + shift.reshape(dims, *([1] * dims))
        psi = mapped - grid  # fixed(x) = moving(x + psi(x))
        window = tuple(slice(c, c + p) for c, p in zip(corner, crop))
        crop_a = images[(i, slice(None)) + window]
        moving.append(crop_a + 0.02 * torch.randn(crop_a.shape, generator=generator))
        fixed.append(warp(crop_a[None], psi[None])[0])
        target.append(psi)
        inside = torch.ones(crop, dtype=torch.bool)
        for axis in range(dims):
            inside &= (mapped[axis] >= 0) & (mapped[axis] <= crop[axis] - 1)
        mask.append(inside[None].float())
    return torch.stack(moving), torch.stack(fixed), torch.stack(target), torch.stack(mask)


def losses(psi, m1, f1, target, mask):
    l_vec = (mask * (psi - target).abs().sum(1, keepdim=True)).sum() / mask.sum()
    cos = (F.normalize(f1, dim=1, eps=1e-12) * F.normalize(warp(m1, target), dim=1, eps=1e-12)).sum(1)
    l_con = 1 - (mask[:, 0] * cos).sum() / mask.sum()
    return l_vec + l_con, l_vec, l_con


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_steps(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    cuda = device.type == 'cuda'
    dims = args.dims
    crop = [args.size] * dims
    model = Cover(dims).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(0)
    images = torch.rand([args.batch, 1] + [args.size * 3 // 2] * dims, generator=generator)
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        # Views are drawn on the CPU, as a data loader would hand them over, then moved.
        moving, fixed, target, mask = (t.to(device) for t in views(images, crop, generator))
        # bf16 autocast of the network; the losses are taken in float32.
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
            psi, m1, f1 = model(moving, fixed)
        total, l_vec, _ = losses(psi.float(), m1.float(), f1.float(), target, mask)
        optimizer.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        l_vec.item()  # one read back per step, which also waits for the device
        times.append((time.perf_counter() - start) * 1000)
    result = {'stepMs': times, 'peakRssMb': peak_rss_mb(), 'threads': torch.get_num_threads(), 'device': str(device)}
    if cuda:
        result['peakGpuMb'] = torch.cuda.max_memory_allocated(device) / 2**20
        result['gpu'] = torch.cuda.get_device_name(device)
    print(json.dumps(result))


# ---------------------------------------------------------------------------- checks


def read_safetensors(path):
    """The tensors of a safetensors file, and its metadata."""
    with open(path, 'rb') as f:
        data = f.read()
    (length,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + length])
    metadata = header.pop('__metadata__', {})
    body = memoryview(data)[8 + length:]
    kinds = {'F32': torch.float32, 'F64': torch.float64, 'I64': torch.int64}
    tensors = {}
    for name, entry in header.items():
        start, end = entry['data_offsets']
        flat = torch.frombuffer(bytearray(body[start:end]), dtype=kinds[entry['dtype']])
        tensors[name] = flat.reshape(entry['shape'])
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    """float32 tensors in the safetensors layout (little-endian, offsets in name order)."""
    header, chunks, offset = {'__metadata__': metadata}, [], 0
    for name in sorted(tensors):
        values = tensors[name].detach().to(torch.float32).reshape(-1).tolist()
        data = struct.pack(f'<{len(values)}f', *values)
        header[name] = {'dtype': 'F32', 'shape': list(tensors[name].shape), 'data_offsets': [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    encoded = json.dumps(header).encode()
    encoded += b' ' * (-len(encoded) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(encoded)) + encoded + b''.join(chunks))


def model_of(options):
    """The module for cover-torch's model options (its weights file's metadata)."""
    return Cover(
        options['dims'],
        heads=tuple(options.get('heads', (4, 4, 4, 1, 1))),
        head_dim=options.get('headDim', 8),
        radius=options.get('radius', 2),
        c=tuple(options.get('channels', (32, 64, 128, 256, 512))),
    )


def check_forward(args):
    """Loads cover-torch's weights strictly and reports how far its forward is from the case's."""
    weights, metadata = read_safetensors(args.weights)
    case, _ = read_safetensors(args.case)
    dims = case['moving'].dim() - 2
    options = json.loads(metadata.get('cover-torch.model-options', '{}'))
    options.setdefault('dims', dims)
    model = model_of(options)
    model.load_state_dict(weights, strict=True)
    model.eval()
    with torch.no_grad():
        psi, m1, f1 = model(case['moving'], case['fixed'])
    diff = {
        'displacement': float((psi - case['displacement']).abs().max()),
        'movingFeatures': float((m1 - case['movingFeatures']).abs().max()),
        'fixedFeatures': float((f1 - case['fixedFeatures']).abs().max()),
        'displacementScale': float(psi.abs().max()),
        'featureScale': float(f1.abs().max()),
    }
    print(json.dumps(diff))


def export_model(args):
    """A freshly initialised module's state_dict (with mov.grid) and its forward on a random
    pair: what cover-torch must load and reproduce."""
    torch.manual_seed(args.seed)
    options = {'dims': args.dims, 'channels': [int(c) for c in args.channels.split(',')]}
    model = model_of(options)
    with torch.no_grad():
        # Non-trivial normalisation parameters, so that a mix-up of weight and bias shows.
        for name, tensor in model.state_dict().items():
            if name.endswith(('1.weight', '1.bias', '4.weight', '4.bias')) and tensor.dim() == 1:
                tensor.add_(0.1 * torch.randn_like(tensor))
    model.eval()
    shape = (1, 1) + (args.size,) * args.dims
    moving = torch.rand(shape)
    fixed = torch.roll(moving, shifts=1, dims=2) + 0.05 * torch.rand(shape)
    with torch.no_grad():
        psi, m1, f1 = model(moving, fixed)
    write_safetensors(args.weights, model.state_dict(), {'format': 'pt'})
    write_safetensors(args.case, {'moving': moving, 'fixed': fixed, 'displacement': psi,
                                  'movingFeatures': m1, 'fixedFeatures': f1}, {})
    print(json.dumps({'tensors': len(model.state_dict())}))


def main():
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest='command', required=True)
    timing = commands.add_parser('time')
    timing.add_argument('--dims', type=int, default=2)
    timing.add_argument('--size', type=int, default=128)
    timing.add_argument('--batch', type=int, default=4)
    timing.add_argument('--steps', type=int, default=6)
    timing.add_argument('--threads', type=int, default=2)
    timing.add_argument('--device', default='cpu')
    timing.add_argument('--bf16', action='store_true')
    check = commands.add_parser('check')
    check.add_argument('weights')
    check.add_argument('case')
    export = commands.add_parser('export')
    export.add_argument('weights')
    export.add_argument('case')
    export.add_argument('--dims', type=int, default=2)
    export.add_argument('--channels', default='32,64,128,256,512')
    export.add_argument('--size', type=int, default=32)
    export.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    {'time': time_steps, 'check': check_forward, 'export': export_model}[args.command](args)


if __name__ == '__main__':
    sys.exit(main())
