from models.synth.generator import main

main()
