from lxcprov.cli.program import run

run()
