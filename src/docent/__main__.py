from docent.cli import main

main()
