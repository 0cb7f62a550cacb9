from freshsales_emulator.app import main

main()
