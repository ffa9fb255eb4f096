"""lxcprov: LXC containers that work the moment they are created."""

__version__ = "0.1.0"
