from immichvr_local.cli import main

main()
