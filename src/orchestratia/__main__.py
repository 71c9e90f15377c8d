from orchestratia.cli.main import main

main()
