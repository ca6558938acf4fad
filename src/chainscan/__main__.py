from chainscan.cli import main
main()
