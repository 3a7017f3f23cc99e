from models.build.bundle import run

run()
