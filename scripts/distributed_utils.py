"""Helpers the training scripts share for multi-process runs (torchrun, accelerate launch)."""

import torch


def leave_process_group():
    """Wait for every rank, then destroy the default process group, if one was started.

    With gloo on CPU, a rank that exits while another still writes its outputs can abort in gloo's C++ teardown
    ("terminate called without an active exception", exit code -6), failing a run whose work was done.
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
