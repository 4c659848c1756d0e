"""Source files shared by the recipes: downloaded once into the user cache (fetch); each recipe reads its own."""
