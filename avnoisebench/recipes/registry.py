"""Every benchmark recipe by name, in the order `avnb build` lists them."""

from avnoisebench.recipes import av_mnist, mini_kinetics, synthetic_av, ucf101_av
from avnoisebench.recipes.recipe import Recipe

RECIPES: dict[str, Recipe] = {
    recipe.name: recipe for recipe in (mini_kinetics.RECIPE, ucf101_av.RECIPE, synthetic_av.RECIPE, av_mnist.RECIPE)
}
