from lxcprov.cli import main

main()
