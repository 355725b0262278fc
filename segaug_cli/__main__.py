from .cli import main

# The guard matters: pool workers re-import the main module, and must not run the CLI again.
if __name__ == "__main__":
    main(prog_name="segaug")
