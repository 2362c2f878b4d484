"""The check shared by the position-sensitive RoI ops (ps_roi_align, ps_roi_pool)."""


def check_ps_channels(op, input, output_size):
    """The input's channels must split evenly into one group per output bin (torchvision's check)."""
    ph, pw = output_size
    channels = input.shape[1]
    if channels % (ph * pw) != 0:
        raise RuntimeError(f"{op}: input channels must be a multiple of pooling height * pooling width "
                           f"({ph} * {pw} = {ph * pw}), got {channels} channels (input size {list(input.shape)})")
