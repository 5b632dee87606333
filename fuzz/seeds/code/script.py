def greet(name):
    """Say hello."""
	return f"hello {name}"  # mixed tabs


if __name__ == "__main__":
    print(greet("world"))
