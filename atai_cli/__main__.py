from atai_cli.main import main

main()
