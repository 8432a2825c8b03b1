"""Identity and access: passwords, tokens, the pure permission policy, and the services around them."""
