from newsearch.cli import main

main()
