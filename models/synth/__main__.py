from models.synth.cli import main

main()
