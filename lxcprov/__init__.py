"""lxcprov: LXC containers that work the moment they are created."""

import gc

__version__ = "0.1.0"

# Every command is a short process whose start is imports: about a thousand modules and
# 140 dataclasses for a `new`, whose objects trip the cyclic collector's young generation
# every 700 allocations and its full pass every hundredth of those; they make no garbage
# cycles worth it. 50 000 between young passes took 7 ms off importing what a `new`
# imports (0.127 -> 0.119 s, six runs each); a long-running command still collects.
gc.set_threshold(50_000, 10, 10)
