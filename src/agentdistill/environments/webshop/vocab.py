"""The generated shop's vocabulary: departments, product types, attributes and option values.

Hand-made tables in the style of the real benchmark's products (Amazon listings scraped for
a search query): every product type has a search `query` ("body lotion"), a category path
(department, subcategory and leaf: "Beauty & Personal Care", "Skin Care", "Body", joined by
U+203A as the real data joins them), a pool of attribute phrases of the kind WebShop's human
goals ask for ("long lasting", "paraben free", "sensitive skin") and option groups with values
written as the real listings write them ("6.76 fl oz (pack of 1)",
"bright citrus", "3 ounce (pack of 2)"). The generator (`catalog`) draws near-duplicate
products from each type: same type, different attributes, options, brands and prices.

Rules the tables keep (checked by tests/webshop/test_catalog.py), so that the real reward's
fuzzy matching tells products apart:
- within a type, no attribute is a substring of another, nor fuzzy-equal to another
  (token_set_ratio > 85), since either would let a product that lacks an attribute match it;
- no attribute phrase occurs in the filler text (descriptors, benefit sentences) that every
  product of the type may show, and no option value occurs in an attribute or type phrase.

The public lists (`ATTRIBUTE_PHRASES`, `OPTION_VALUES`, `TYPE_QUERIES`) are the shop's
vocabulary: the expert reads instructions with them, as a shopper knows what words a shop uses.
"""

from __future__ import annotations

from dataclasses import dataclass

SEP = " \u203a "
"""The category path separator of the real data (U+203A between the parts)."""


@dataclass(frozen=True)
class TypeSpec:
    """One product type: what near-duplicate products of the shop share."""

    query: str
    """The type as a shopper says it, lower case ("body lotion"); the real data's `query`."""
    path: tuple[str, str, str]
    """Department, subcategory, leaf."""
    attributes: tuple[str, ...]
    """Attribute phrases products of the type may have (each product has 2 to 4)."""
    options: tuple[tuple[str, tuple[str, ...]], ...]
    """Option groups: (name, values); each product offers a subset of each group's values."""
    price: tuple[float, float]
    """Typical price range in dollars."""
    container: str = ""
    """How one unit is packed, for instructions ("a 6.76 fl oz bottle of body lotion")."""


# Attribute phrases a title and an instruction write as "for ..." (the rest are adjectives:
# "a long lasting body lotion" but "a body lotion for sensitive skin").
FOR_ATTRIBUTES = frozenset(
    {
        "sensitive skin", "dry skin", "oily skin", "curly hair", "fine hair", "damaged hair",
        "color treated hair", "everyday wear", "daily use", "living room", "bedroom",
        "small spaces", "large breed dogs", "small dogs", "indoor cats", "kids", "toddlers",
        "gaming", "travel", "home office", "hot yoga", "beginners", "hiking", "family trips",
        "back support", "heavy duty use", "outdoor use", "teething",
    }
)  # fmt: skip

# ---- option value pools ----------------------------------------------------------------------
FLOZ = (
    "1 fl oz", "2 fl oz", "4 fl oz", "8 fl oz", "12 fl oz", "16 fl oz", "32 fl oz",
    "3.4 fl oz (pack of 1)", "6.76 fl oz (pack of 1)", "8.4 fl oz (pack of 2)",
    "10.1 fl oz (pack of 3)", "13.5 fl oz (pack of 1)",
)  # fmt: skip
OUNCES = (
    "1 ounce", "2 ounce", "3 ounce", "5 ounce", "7 ounce", "10 ounce", "14 ounce",
    "3 ounce (pack of 2)", "3 ounce (pack of 1)", "6 ounce (pack of 4)", "9 ounce (pack of 6)",
    "1.5 ounce (pack of 12)",
)  # fmt: skip
FOOD_WEIGHTS = (
    "8 ounce", "12 ounce", "16 ounce", "24 ounce", "2 pound", "5 pound",
    "12 ounce (pack of 2)", "4 ounce (pack of 6)", "1.76 ounce (pack of 12)",
    "2.5 ounce (pack of 8)", "1 pound (pack of 1)",
)  # fmt: skip
COUNTS = (
    "12 count", "24 count", "30 count", "60 count", "90 count", "120 count", "180 count",
    "36 count (pack of 1)", "10 count (pack of 3)", "48 count (pack of 2)",
)  # fmt: skip
PACKS = ("1 pack", "2 pack", "3 pack", "4 pack", "6 pack", "10 pack", "12 pack", "20 pack")
SCENTS = (
    "bright citrus", "calming lavender", "ginger fresh", "simply non-scents", "fresh linen",
    "coconut vanilla", "eucalyptus mint", "ocean breeze", "cedarwood", "unscented",
    "sweet almond", "cucumber melon", "sandalwood", "rose water",
)  # fmt: skip
COLORS = (
    "black", "white", "navy blue", "light grey", "beige", "burgundy", "olive green", "pink",
    "red", "royal blue", "brown", "charcoal", "ivory", "teal", "purple", "yellow", "khaki",
    "multicolor", "silver", "gold", "orange", "maroon", "mint green", "lavender",
)  # fmt: skip
DEVICE_COLORS = (
    "black", "white", "silver", "space gray", "rose gold", "blue", "red", "green", "pink",
    "midnight black", "clear", "purple",
)  # fmt: skip
CLOTHING_SIZES = ("x-small", "small", "medium", "large", "x-large", "xx-large", "3x-large")
SHOE_SIZES = ("6", "7", "8", "9", "10", "11", "12", "13", "6 wide", "8 wide", "10 wide")
PANT_SIZES = ("28w x 30l", "30w x 30l", "32w x 32l", "34w x 32l", "36w x 34l", "38w x 34l")
BED_SIZES = ("twin", "full", "queen", "king", "california king", "twin xl")
RUG_SIZES = (
    "2 x 3 feet", "3 x 5 feet", "4 x 6 feet", "5 x 7 feet", "6 x 9 feet", "8 x 10 feet",
    "2 ft 7 in x 8 ft runner",
)  # fmt: skip
CURTAIN_SIZES = (
    "52 x 63 inch", "52 x 84 inch", "52 x 95 inch", "42 x 63 inch", "42 x 84 inch",
    "100 x 84 inch",
)  # fmt: skip
COFFEE_FLAVORS = (
    "medium roast", "dark roast", "light roast", "french vanilla", "hazelnut", "breakfast blend",
    "colombian", "mocha", "decaf house blend", "caramel drizzle",
)  # fmt: skip
TEA_FLAVORS = (
    "chamomile", "peppermint", "lemon ginger", "hibiscus", "rooibos", "earl grey", "jasmine",
    "turmeric", "sleepytime", "matcha",
)  # fmt: skip
SNACK_FLAVORS = (
    "peanut butter", "chocolate chip", "sea salt", "cinnamon", "blueberry", "honey almond",
    "salted caramel", "cookies and cream", "original", "teriyaki", "sweet and spicy",
    "black pepper", "barbecue", "maple",
)  # fmt: skip
CANDY_FLAVORS = (
    "assorted fruit", "sour cherry", "watermelon", "green apple", "tropical punch", "grape",
    "strawberry", "lemon lime", "blue raspberry",
)  # fmt: skip
SAUCE_HEAT = ("mild", "medium hot", "extra hot", "habanero", "chipotle", "garlic")
STRENGTHS = ("500 mg", "1000 mg", "2000 iu", "5000 iu", "25 mcg", "50 mcg", "250 mg")
WATTAGES = ("40 watt", "60 watt", "75 watt", "100 watt")
LIGHT_COLORS = ("soft white 2700k", "warm white 3000k", "bright white 4000k", "daylight 5000k")
CABLE_LENGTHS = ("3 feet", "6 feet", "10 feet", "15 feet", "1 foot", "25 feet")
CAPACITIES = ("5000mah", "10000mah", "20000mah", "26800mah")
PHONE_MODELS = (
    "iphone 14", "iphone 14 pro", "iphone 15", "iphone 15 pro max", "galaxy s23", "galaxy s24",
    "pixel 8", "pixel 8 pro",
)  # fmt: skip
DOG_SIZES = ("small breed", "medium breed", "large breed", "toy breed")
PET_FLAVORS = ("chicken", "salmon", "beef", "lamb and rice", "turkey", "duck")
WEIGHTS_LB = ("5 pound", "10 pound", "15 pound", "20 pound", "25 pound", "30 pound")
DUMBBELL_WEIGHTS = ("5 pound", "8 pound", "10 pound", "12 pound", "15 pound", "20 pound")
AGE_RANGES = ("3 years and up", "5 years and up", "8 years and up", "12 years and up")
PIECE_COUNTS = ("500 pieces", "1000 pieces", "300 pieces", "1500 pieces", "100 pieces")
INK_COLORS = ("black ink", "blue ink", "assorted colors", "red ink", "pastel colors")
PAPER_STYLES = ("college ruled", "wide ruled", "dotted", "blank", "graph")
PLANTER_SIZES = ("4 inch", "6 inch", "8 inch", "10 inch", "12 inch")
HOSE_LENGTHS = ("25 ft", "50 ft", "75 ft", "100 ft")
TENT_CAPACITY = ("2 person", "4 person", "6 person", "8 person")
MAT_THICKNESS = ("1/4 inch", "1/2 inch", "1/3 inch", "2/3 inch")
BOTTLE_SIZES = ("18 oz", "24 oz", "32 oz", "40 oz", "64 oz")
SHADES = ("ivory beige", "natural buff", "warm sand", "golden tan", "deep espresso", "porcelain")

# ---- attribute pools --------------------------------------------------------------------------
SKIN = (
    "long lasting", "paraben free", "cruelty free", "fragrance free", "sensitive skin",
    "dry skin", "dermatologist tested", "hyaluronic acid", "shea butter", "non greasy",
)  # fmt: skip
HAIR = (
    "sulfate free", "paraben free", "cruelty free", "curly hair", "fine hair", "damaged hair",
    "color treated hair", "argan oil", "tea tree", "natural ingredients",
)  # fmt: skip
MAKEUP = (
    "long lasting", "cruelty free", "paraben free", "waterproof", "easy to apply",
    "highly pigmented", "vegan formula", "travel size",
)  # fmt: skip
ORAL = (
    "fluoride free", "whitening", "fresh breath", "sensitive teeth", "travel size",
    "mint flavored", "vegan formula", "gum care",
)  # fmt: skip
FOOD = (
    "gluten free", "sugar free", "non gmo", "certified organic", "keto friendly",
    "high protein", "low carb", "kosher certified", "dairy free", "individually wrapped",
    "plant based", "no artificial flavors",
)  # fmt: skip
DRINK = (
    "certified organic", "fair trade", "caffeine free", "non gmo", "kosher certified",
    "sugar free", "single serve", "whole bean", "resealable bag",
)  # fmt: skip
APPAREL = (
    "machine washable", "moisture wicking", "quick drying", "relaxed fit", "slim fit",
    "long sleeve", "short sleeve", "button closure", "elastic waistband", "everyday wear",
    "polyester spandex", "cotton blend",
)  # fmt: skip
FOOTWEAR = (
    "non slip", "rubber sole", "memory foam", "arch support", "lace up closure",
    "lightweight design", "breathable mesh", "shock absorbing", "padded collar", "wide toe box",
)  # fmt: skip
FURNITURE = (
    "easy assembly", "solid wood", "storage space", "living room", "bedroom", "small spaces",
    "mid century modern", "metal frame", "easy to clean", "space saving",
)  # fmt: skip
TEXTILE = (
    "machine washable", "easy to clean", "fade resistant", "wrinkle free", "deep pocket",
    "blackout lining", "non slip backing", "microfiber fabric", "hypoallergenic",
    "living room", "bedroom",
)  # fmt: skip
ELECTRONIC = (
    "fast charging", "long battery life", "noise cancelling", "water resistant",
    "easy to use", "high definition", "usb c", "wireless charging", "plug and play",
    "compact design", "gaming", "travel", "home office",
)  # fmt: skip
HOUSEHOLD = (
    "plant based", "fragrance free", "hypoallergenic", "eco friendly", "heavy duty",
    "septic safe", "concentrated formula", "travel size",
)  # fmt: skip
SUPPLEMENT = (
    "gluten free", "non gmo", "vegan formula", "third party tested", "sugar free",
    "easy to swallow", "daily use", "kids",
)  # fmt: skip
FITNESS = (
    "non slip", "eco friendly", "lightweight design", "easy to clean", "extra thick",
    "carrying strap", "beginners", "hot yoga", "heavy duty use", "anti burst",
)  # fmt: skip
OUTDOOR = (
    "water resistant", "easy setup", "lightweight design", "uv protection", "heavy duty",
    "family trips", "hiking", "outdoor use", "rust resistant", "carrying bag",
)  # fmt: skip
PET = (
    "grain free", "high protein", "no artificial flavors", "large breed dogs", "small dogs",
    "indoor cats", "easy to clean", "machine washable", "odor control", "veterinarian approved",
)  # fmt: skip
TOY = (
    "educational toy", "bpa free", "kids", "toddlers", "birthday gift", "non toxic",
    "easy to clean", "stem learning",
)  # fmt: skip
OFFICE = (
    "smooth writing", "quick drying", "acid free paper", "hardcover", "refillable",
    "eco friendly", "home office", "space saving",
)  # fmt: skip
TOOL = (
    "energy saving", "dimmable", "long lasting", "easy installation", "heavy duty",
    "rust resistant", "outdoor use", "ul listed",
)  # fmt: skip
BABY = (
    "hypoallergenic", "fragrance free", "plant based", "bpa free", "teething", "toddlers",
    "dermatologist tested", "easy to clean",
)  # fmt: skip
AUTO = (
    "universal fit", "easy installation", "water resistant", "heavy duty", "one hand operation",
    "non slip", "fast charging",
)  # fmt: skip

# ---- departments and product types --------------------------------------------------------
DEPARTMENTS: dict[str, str] = {
    # department -> the real data's coarse `category`
    "Beauty & Personal Care": "beauty",
    "Grocery & Gourmet Food": "food",
    "Clothing, Shoes & Jewelry": "fashion",
    "Home & Kitchen": "furniture",
    "Electronics": "electronics",
    "Health & Household": "beauty",
    "Sports & Outdoors": "fashion",
    "Pet Supplies": "food",
    "Toys & Games": "furniture",
    "Office Products": "furniture",
    "Tools & Home Improvement": "electronics",
    "Baby Products": "beauty",
    "Patio, Lawn & Garden": "furniture",
    "Automotive": "electronics",
}

BEAUTY, FOOD_D, FASHION, HOME = (
    "Beauty & Personal Care",
    "Grocery & Gourmet Food",
    "Clothing, Shoes & Jewelry",
    "Home & Kitchen",
)
ELEC, HEALTH = "Electronics", "Health & Household"
SPORTS, PETS = "Sports & Outdoors", "Pet Supplies"
TOYS, OFFICE_D, TOOLS, BABY_D = (
    "Toys & Games",
    "Office Products",
    "Tools & Home Improvement",
    "Baby Products",
)
GARDEN, AUTO_D = "Patio, Lawn & Garden", "Automotive"

T = TypeSpec
TYPES: tuple[TypeSpec, ...] = (
    # Beauty & Personal Care
    T("deodorant", (BEAUTY, "Personal Care", "Deodorants & Antiperspirants"),
      ("aluminum free", "long lasting", "sensitive skin", "cruelty free", "paraben free",
       "baking soda free", "natural ingredients"),
      (("scent", SCENTS), ("size", OUNCES)), (6, 25), "stick"),
    T("body lotion", (BEAUTY, "Skin Care", "Body"), SKIN,
      (("scent", SCENTS), ("size", FLOZ)), (7, 35), "bottle"),
    T("face moisturizer", (BEAUTY, "Skin Care", "Face"), (*SKIN[:8], "oily skin", "spf 30"),
      (("size", FLOZ),), (10, 60), "jar"),
    T("hand cream", (BEAUTY, "Skin Care", "Hands & Nails"), SKIN,
      (("scent", SCENTS), ("size", OUNCES)), (5, 25), "tube"),
    T("eye cream", (BEAUTY, "Skin Care", "Eyes"), (*SKIN[:7], "anti aging", "dark circles"),
      (("size", FLOZ),), (12, 70), "jar"),
    T("sunscreen lotion", (BEAUTY, "Skin Care", "Sunscreens & Tanning"),
      ("water resistant", "reef safe", "broad spectrum", "fragrance free", "sensitive skin",
       "non greasy", "mineral based", "travel size"),
      (("size", FLOZ),), (8, 35), "bottle"),
    T("shampoo", (BEAUTY, "Hair Care", "Shampoo & Conditioner"), HAIR,
      (("scent", SCENTS), ("size", FLOZ)), (6, 40), "bottle"),
    T("conditioner", (BEAUTY, "Hair Care", "Shampoo & Conditioner"), HAIR,
      (("scent", SCENTS), ("size", FLOZ)), (6, 40), "bottle"),
    T("hair oil", (BEAUTY, "Hair Care", "Styling Products"), HAIR,
      (("size", FLOZ),), (8, 45), "bottle"),
    T("body wash", (BEAUTY, "Personal Care", "Bath & Bathing Accessories"), SKIN,
      (("scent", SCENTS), ("size", FLOZ)), (5, 30), "bottle"),
    T("lip balm", (BEAUTY, "Skin Care", "Lip Care"),
      ("long lasting", "cruelty free", "shea butter", "spf 15", "beeswax formula",
       "tinted finish", "vegan formula"),
      (("flavor name", ("vanilla bean", "cherry", "peppermint", "coconut", "honey", "unflavored",
                        "strawberry", "mango")), ("size", PACKS)), (3, 15), "tube"),
    T("nail polish", (BEAUTY, "Foot, Hand & Nail Care", "Nail Polish"), MAKEUP,
      (("color", COLORS),), (5, 20), "bottle"),
    T("liquid foundation", (BEAUTY, "Makeup", "Face"), MAKEUP,
      (("color", SHADES), ("size", FLOZ[:5])), (9, 45), "bottle"),
    T("makeup brush set", (BEAUTY, "Tools & Accessories", "Makeup Brushes & Tools"),
      ("cruelty free", "synthetic bristles", "travel size", "easy to clean", "storage case",
       "soft bristles"),
      (("color", COLORS), ("size", PACKS)), (8, 40)),
    T("perfume", (BEAUTY, "Fragrance", "Women's"),
      ("long lasting", "travel size", "floral notes", "woody notes", "gift set", "vegan formula"),
      (("scent", SCENTS), ("size", FLOZ)), (20, 120), "bottle"),
    # Grocery & Gourmet Food
    T("ground coffee", (FOOD_D, "Beverages", "Coffee, Tea & Cocoa"), DRINK,
      (("flavor name", COFFEE_FLAVORS), ("size", FOOD_WEIGHTS)), (7, 35), "bag"),
    T("herbal tea", (FOOD_D, "Beverages", "Coffee, Tea & Cocoa"), DRINK,
      (("flavor name", TEA_FLAVORS), ("size", COUNTS)), (4, 25), "box"),
    T("protein bar", (FOOD_D, "Snack Foods", "Bars"), FOOD,
      (("flavor name", SNACK_FLAVORS), ("size", COUNTS)), (10, 45), "box"),
    T("beef jerky", (FOOD_D, "Meat & Seafood", "Jerky & Dried Meats"), FOOD,
      (("flavor name", SNACK_FLAVORS), ("size", FOOD_WEIGHTS)), (8, 40), "bag"),
    T("granola", (FOOD_D, "Breakfast Foods", "Cereals"), FOOD,
      (("flavor name", SNACK_FLAVORS), ("size", FOOD_WEIGHTS)), (5, 25), "bag"),
    T("trail mix", (FOOD_D, "Snack Foods", "Nuts & Seeds"), FOOD,
      (("flavor name", SNACK_FLAVORS), ("size", FOOD_WEIGHTS)), (6, 30), "bag"),
    T("hot sauce", (FOOD_D, "Pantry Staples", "Condiments"), FOOD,
      (("flavor name", SAUCE_HEAT), ("size", FLOZ[:7])), (4, 20), "bottle"),
    T("olive oil", (FOOD_D, "Pantry Staples", "Oils, Vinegars & Salad Dressings"), FOOD,
      (("size", FLOZ),), (8, 40), "bottle"),
    T("raw honey", (FOOD_D, "Pantry Staples", "Honey & Sweeteners"), FOOD,
      (("size", FOOD_WEIGHTS),), (7, 35), "jar"),
    T("gummy candy", (FOOD_D, "Snacks & Sweets", "Candy"), FOOD,
      (("flavor name", CANDY_FLAVORS), ("size", FOOD_WEIGHTS)), (4, 25), "bag"),
    T("sparkling water", (FOOD_D, "Beverages", "Water"),
      ("sugar free", "caffeine free", "non gmo", "kosher certified", "no artificial flavors",
       "zero calories", "naturally flavored"),
      (("flavor name", CANDY_FLAVORS), ("size", PACKS)), (5, 30), "can"),
    T("pasta sauce", (FOOD_D, "Pantry Staples", "Sauces"), FOOD,
      (("flavor name", ("marinara", "tomato basil", "garlic", "four cheese", "arrabbiata",
                        "vodka")), ("size", FOOD_WEIGHTS)), (4, 22), "jar"),
    # Clothing, Shoes & Jewelry
    T("men's t-shirt", (FASHION, "Men", "Shirts"), APPAREL,
      (("color", COLORS), ("size", CLOTHING_SIZES)), (8, 35)),
    T("women's hoodie", (FASHION, "Women", "Fashion Hoodies & Sweatshirts"), APPAREL,
      (("color", COLORS), ("size", CLOTHING_SIZES)), (18, 60)),
    T("yoga pants", (FASHION, "Women", "Leggings"), APPAREL,
      (("color", COLORS), ("size", CLOTHING_SIZES)), (15, 50)),
    T("men's jeans", (FASHION, "Men", "Jeans"), APPAREL,
      (("color", COLORS), ("size", PANT_SIZES)), (20, 70)),
    T("running shoes", (FASHION, "Men", "Athletic Shoes"), FOOTWEAR,
      (("color", COLORS), ("size", SHOE_SIZES)), (30, 130)),
    T("women's sneakers", (FASHION, "Women", "Fashion Sneakers"), FOOTWEAR,
      (("color", COLORS), ("size", SHOE_SIZES)), (25, 110)),
    T("hiking boots", (FASHION, "Men", "Outdoor Shoes"), (*FOOTWEAR[:8], "waterproof"),
      (("color", COLORS), ("size", SHOE_SIZES)), (45, 180)),
    T("crew socks", (FASHION, "Men", "Socks"), (*APPAREL[:4], "cushioned sole", "arch support"),
      (("color", COLORS), ("size", PACKS)), (8, 30), "pack"),
    T("baseball cap", (FASHION, "Accessories", "Hats & Caps"),
      ("adjustable strap", "cotton blend", "uv protection", "machine washable", "quick drying",
       "everyday wear"),
      (("color", COLORS),), (8, 30)),
    T("winter jacket", (FASHION, "Women", "Coats, Jackets & Vests"),
      ("water resistant", "detachable hood", "fleece lined", "zipper closure", "machine washable",
       "slim fit", "relaxed fit"),
      (("color", COLORS), ("size", CLOTHING_SIZES)), (40, 160)),
    T("pajama set", (FASHION, "Women", "Sleep & Lounge"), APPAREL,
      (("color", COLORS), ("size", CLOTHING_SIZES)), (18, 55)),
    T("swim trunks", (FASHION, "Men", "Swim"), APPAREL,
      (("color", COLORS), ("size", CLOTHING_SIZES)), (12, 40)),
    # Home & Kitchen
    T("coffee table", (HOME, "Furniture", "Living Room Furniture"), FURNITURE,
      (("color", COLORS[:12]),), (60, 300)),
    T("office chair", (HOME, "Furniture", "Home Office Furniture"),
      ("lumbar support", "adjustable height", "easy assembly", "back support", "breathable mesh",
       "swivel base", "padded armrests", "home office"),
      (("color", COLORS[:12]),), (70, 350)),
    T("bookshelf", (HOME, "Furniture", "Bookcases, Cabinets & Shelves"), FURNITURE,
      (("color", COLORS[:12]), ("size", ("3 tier", "4 tier", "5 tier", "6 tier"))), (40, 220)),
    T("nightstand", (HOME, "Furniture", "Bedroom Furniture"), FURNITURE,
      (("color", COLORS[:12]),), (35, 180)),
    T("bar stool", (HOME, "Furniture", "Kitchen & Dining Room Furniture"), FURNITURE,
      (("color", COLORS[:12]), ("size", PACKS[:4])), (45, 250)),
    T("bed sheet set", (HOME, "Bedding", "Sheets & Pillowcases"), TEXTILE,
      (("color", COLORS), ("size", BED_SIZES)), (20, 90)),
    T("throw pillow cover", (HOME, "Home Décor Products", "Decorative Pillows"), TEXTILE,
      (("color", COLORS), ("size", ("18 x 18 inch", "20 x 20 inch", "12 x 20 inch",
                                   "16 x 16 inch", "24 x 24 inch"))), (8, 35), "pack"),
    T("area rug", (HOME, "Home Décor Products", "Area Rugs"), TEXTILE,
      (("color", COLORS), ("size", RUG_SIZES)), (30, 250)),
    T("blackout curtains", (HOME, "Home Décor Products", "Window Treatments"), TEXTILE,
      (("color", COLORS), ("size", CURTAIN_SIZES)), (15, 70), "set"),
    T("bath towel set", (HOME, "Bath", "Towels"), TEXTILE,
      (("color", COLORS), ("size", PACKS[:6])), (18, 70)),
    T("shower curtain", (HOME, "Bath", "Shower Curtains"), TEXTILE,
      (("color", COLORS),), (10, 40)),
    T("storage ottoman", (HOME, "Furniture", "Living Room Furniture"), FURNITURE,
      (("color", COLORS[:12]),), (30, 150)),
    # Electronics
    T("bluetooth speaker", (ELEC, "Portable Audio & Video", "Portable Speakers & Docks"),
      ELECTRONIC, (("color", DEVICE_COLORS),), (20, 150)),
    T("wireless earbuds", (ELEC, "Headphones, Earbuds & Accessories", "Earbud Headphones"),
      ELECTRONIC, (("color", DEVICE_COLORS),), (20, 200)),
    T("phone case", (ELEC, "Cell Phones & Accessories", "Cases, Holsters & Sleeves"),
      ("shockproof", "slim fit", "wireless charging", "screen protection", "kickstand",
       "raised edges", "transparent back"),
      (("color", DEVICE_COLORS), ("size", PHONE_MODELS)), (8, 40)),
    T("usb c cable", (ELEC, "Computers & Accessories", "Cables & Accessories"),
      ("fast charging", "braided nylon", "data transfer", "durable design", "tangle free",
       "right angle"),
      (("color", DEVICE_COLORS[:6]), ("size", CABLE_LENGTHS)), (6, 25), "pack"),
    T("hdmi cable", (ELEC, "Computers & Accessories", "Cables & Accessories"),
      ("high speed", "4k resolution", "braided nylon", "gold plated", "ethernet support",
       "durable design"),
      (("size", CABLE_LENGTHS),), (6, 30)),
    T("power bank", (ELEC, "Cell Phones & Accessories", "Portable Power Banks"),
      ("fast charging", "usb c", "compact design", "led display", "wireless charging", "travel",
       "airline approved"),
      (("color", DEVICE_COLORS[:6]), ("size", CAPACITIES)), (15, 70)),
    T("wireless mouse", (ELEC, "Computers & Accessories", "Mice"),
      ("ergonomic design", "silent click", "rechargeable battery", "plug and play", "gaming",
       "home office", "adjustable dpi"),
      (("color", DEVICE_COLORS),), (8, 60)),
    T("mechanical keyboard", (ELEC, "Computers & Accessories", "Keyboards"),
      ("rgb backlit", "hot swappable", "wireless connection", "compact design", "gaming",
       "home office", "quiet switches"),
      (("color", DEVICE_COLORS[:6]),), (30, 160)),
    T("webcam", (ELEC, "Computers & Accessories", "Webcams"),
      ("high definition", "built in microphone", "auto focus", "privacy cover", "plug and play",
       "wide angle", "home office"),
      (("color", DEVICE_COLORS[:3]),), (20, 120)),
    T("smart watch band", (ELEC, "Wearable Technology", "Smartwatch Bands"),
      ("quick release", "sweat resistant", "soft silicone", "stainless steel", "adjustable fit",
       "breathable design"),
      (("color", COLORS), ("size", ("38mm", "40mm", "41mm", "44mm", "45mm", "49mm"))), (6, 30)),
    T("screen protector", (ELEC, "Cell Phones & Accessories", "Screen Protectors"),
      ("tempered glass", "bubble free", "case friendly", "anti glare", "privacy filter",
       "easy installation"),
      (("size", PHONE_MODELS),), (5, 20), "pack"),
    # Health & Household
    T("toothpaste", (HEALTH, "Oral Care", "Toothpaste"), ORAL,
      (("flavor name", ("fresh mint", "cinnamon", "charcoal mint", "spearmint", "wintergreen",
                        "bubblegum")), ("size", OUNCES)), (4, 20), "tube"),
    T("multivitamin", (HEALTH, "Vitamins & Dietary Supplements", "Multivitamins"), SUPPLEMENT,
      (("size", COUNTS),), (10, 45), "bottle"),
    T("vitamin d3 gummies", (HEALTH, "Vitamins & Dietary Supplements", "Vitamin D"),
      SUPPLEMENT, (("size", COUNTS), ("style", STRENGTHS)), (9, 35), "bottle"),
    T("hand sanitizer", (HEALTH, "Health Care", "First Aid"), HOUSEHOLD,
      (("scent", SCENTS), ("size", FLOZ)), (4, 25), "bottle"),
    T("laundry detergent", (HEALTH, "Household Supplies", "Laundry"), HOUSEHOLD,
      (("scent", SCENTS), ("size", FLOZ)), (8, 40), "bottle"),
    T("dish soap", (HEALTH, "Household Supplies", "Dishwashing"), HOUSEHOLD,
      (("scent", SCENTS), ("size", FLOZ)), (3, 20), "bottle"),
    # Sports & Outdoors
    T("yoga mat", (SPORTS, "Exercise & Fitness", "Yoga"), FITNESS,
      (("color", COLORS), ("size", MAT_THICKNESS)), (15, 80)),
    T("water bottle", (SPORTS, "Outdoor Recreation", "Hydration Packs & Accessories"),
      ("bpa free", "leak proof", "vacuum insulated", "dishwasher safe", "wide mouth",
       "stainless steel", "straw lid", "hiking"),
      (("color", COLORS), ("size", BOTTLE_SIZES)), (10, 45)),
    T("resistance bands", (SPORTS, "Exercise & Fitness", "Strength Training Equipment"),
      FITNESS, (("color", COLORS[:8]), ("size", PACKS[:5])), (8, 40), "set"),
    T("camping tent", (SPORTS, "Outdoor Recreation", "Camping & Hiking"), OUTDOOR,
      (("color", COLORS[:10]), ("size", TENT_CAPACITY)), (40, 300)),
    T("adjustable dumbbells", (SPORTS, "Exercise & Fitness", "Strength Training Equipment"),
      ("non slip", "space saving", "quick adjustment", "home gym", "rubber coated",
       "beginners", "storage tray"),
      (("size", DUMBBELL_WEIGHTS),), (25, 200), "pair"),
    # Pet Supplies
    T("dry dog food", (PETS, "Dogs", "Food"), PET,
      (("flavor name", PET_FLAVORS), ("size", WEIGHTS_LB)), (15, 80), "bag"),
    T("cat litter", (PETS, "Cats", "Litter & Housebreaking"),
      ("odor control", "low dust", "clumping formula", "unscented formula", "lightweight formula",
       "indoor cats", "flushable"),
      (("size", WEIGHTS_LB),), (8, 40), "bag"),
    T("dog leash", (PETS, "Dogs", "Collars, Harnesses & Leashes"),
      ("reflective stitching", "padded handle", "heavy duty", "large breed dogs", "small dogs",
       "hands free", "chew resistant"),
      (("color", COLORS), ("size", ("4 feet", "5 feet", "6 feet", "10 feet"))), (8, 35)),
    T("dog bed", (PETS, "Dogs", "Beds & Furniture"),
      ("orthopedic foam", "machine washable", "non slip bottom", "waterproof liner",
       "removable cover", "easy to clean", "calming design"),
      (("color", COLORS[:12]), ("size", DOG_SIZES)), (20, 110)),
    T("cat toy", (PETS, "Cats", "Toys"),
      ("interactive play", "catnip filled", "indoor cats", "non toxic", "battery operated",
       "feather wand"),
      (("size", PACKS),), (5, 25), "pack"),
    # Toys & Games
    T("building blocks", (TOYS, "Building Toys", "Building Sets"), TOY,
      (("size", PIECE_COUNTS), ("style", AGE_RANGES)), (10, 80), "set"),
    T("jigsaw puzzle", (TOYS, "Puzzles", "Jigsaw Puzzles"),
      ("family game night", "thick pieces", "poster included", "kids", "birthday gift",
       "recycled cardboard"),
      (("size", PIECE_COUNTS),), (8, 35)),
    T("plush toy", (TOYS, "Stuffed Animals & Plush Toys", "Plush Figures"), TOY,
      (("color", COLORS[:10]), ("size", ("8 inch", "12 inch", "16 inch", "24 inch"))), (8, 40)),
    # Office Products
    T("spiral notebook", (OFFICE_D, "Office & School Supplies", "Paper"), OFFICE,
      (("style", PAPER_STYLES), ("size", PACKS[:6])), (4, 25), "pack"),
    T("gel pens", (OFFICE_D, "Office & School Supplies", "Writing & Correction Supplies"),
      OFFICE, (("color", INK_COLORS), ("size", PACKS)), (5, 25), "pack"),
    T("desk organizer", (OFFICE_D, "Office & School Supplies", "Desk Accessories"),
      ("space saving", "metal mesh", "easy assembly", "home office", "multiple compartments",
       "drawer included"),
      (("color", COLORS[:8]),), (10, 45)),
    # Tools & Home Improvement
    T("led light bulbs", (TOOLS, "Light Bulbs", "LED Bulbs"), TOOL,
      (("color", LIGHT_COLORS), ("size", PACKS[:6])), (8, 45), "pack"),
    T("cordless drill", (TOOLS, "Power & Hand Tools", "Power Tools"),
      ("brushless motor", "led work light", "two batteries", "carrying case", "variable speed",
       "compact design", "heavy duty use"),
      (("style", ("12v", "18v", "20v max")),), (40, 200)),
    # Baby Products
    T("baby wipes", (BABY_D, "Diapering", "Wipes & Refills"), BABY,
      (("size", COUNTS),), (6, 35), "pack"),
    T("baby teether", (BABY_D, "Baby Care", "Teethers"), BABY,
      (("color", COLORS[:10]), ("size", PACKS[:4])), (5, 20)),
    # Patio, Lawn & Garden
    T("ceramic planter", (GARDEN, "Gardening & Lawn Care", "Pots & Planters"),
      ("drainage hole", "saucer included", "indoor plants", "modern design", "glazed finish",
       "outdoor use"),
      (("color", COLORS[:12]), ("size", PLANTER_SIZES)), (10, 60)),
    T("garden hose", (GARDEN, "Gardening & Lawn Care", "Watering Equipment"),
      ("kink free", "lightweight design", "heavy duty", "brass fittings", "expandable design",
       "spray nozzle"),
      (("size", HOSE_LENGTHS),), (15, 80)),
    # Automotive
    T("car phone mount", (AUTO_D, "Interior Accessories", "Phone Mounts"), AUTO,
      (("style", ("dashboard", "air vent", "cup holder", "windshield")),), (8, 40)),
    T("car seat covers", (AUTO_D, "Interior Accessories", "Seat Covers"),
      ("universal fit", "water resistant", "breathable fabric", "easy installation",
       "airbag compatible", "pet friendly"),
      (("color", COLORS[:10]), ("size", ("front seats", "full set", "rear bench"))), (20, 120),
      "set"),
)  # fmt: skip

# ---- words for titles and descriptions -----------------------------------------------------
# Catch-phrases a title may end with (no attribute phrase occurs in any of them).
DESCRIPTORS = (
    "Premium Quality", "Gift Idea", "Everyday Essential", "Classic Design", "Value Size",
    "Best Seller Edition", "New Version", "Customer Favorite", "Original Formula",
    "Signature Collection", "Limited Edition", "Home Essentials",
)  # fmt: skip
# Sentences every product may carry in its description and bullet points.
FILLER = (
    "Thoughtfully made and carefully packed.",
    "A smart choice for your routine.",
    "Backed by our satisfaction promise.",
    "Designed with attention to detail.",
    "Perfect as a present for friends and family.",
    "Our team tests every batch before it ships.",
    "Simple to store and ready when you are.",
    "Crafted to meet high standards.",
)
# Syllables of generated brand names ("Velora", "Brinko", "Calitaix").
BRAND_HEADS = (
    "vel", "brin", "cor", "dal", "fen", "gal", "hal", "jor", "kal", "lum", "mar", "nor",
    "pel", "quin", "ros", "sol", "tor", "vin", "wil", "zen", "ark", "bel", "cal", "dor",
)  # fmt: skip
BRAND_MIDS = ("", "ra", "li", "do", "ne", "ta", "vo", "mi")
BRAND_TAILS = ("ora", "ko", "vex", "line", "ara", "io", "ly", "mont", "ix", "ena", "wick", "um")

# Title words that are nouns besides the type, brand and attribute nouns (the fallback noun
# extractor's lexicon; see reward.LexiconNouns).
ATTRIBUTE_NOUNS = frozenset(
    {
        "skin", "hair", "butter", "acid", "oil", "tree", "ingredients", "soda", "teeth", "breath",
        "gum", "formula", "size", "protein", "carb", "bag", "bean", "fit", "sleeve", "closure",
        "waistband", "wear", "spandex", "blend", "sole", "foam", "support", "box", "lace",
        "design", "mesh", "toe", "wood", "space", "room", "spaces", "century", "frame",
        "pocket", "lining", "backing", "fabric", "battery", "life", "charging", "definition",
        "play", "gaming", "travel", "office", "use", "steel", "strap", "yoga", "beginners",
        "protection", "setup", "trips", "hiking", "dogs", "cats", "control", "toy", "gift",
        "learning", "paper", "cover", "finish", "case", "bristles", "notes", "set", "sugar",
        "gluten", "dairy", "calories", "flavors", "height", "base", "armrests", "hood",
        "zipper", "edges", "back", "screen", "kickstand", "nylon", "transfer",
        "angle", "speed", "resolution", "ethernet", "display", "connection", "switches",
        "microphone", "focus", "privacy", "release", "silicone", "glass", "filter", "aging",
        "circles", "spectrum", "spf", "beeswax", "lid", "mouth", "straw", "tray",
        "gym", "adjustment", "stitching", "handle", "dust", "night", "pieces", "poster",
        "cardboard", "compartments", "drawer", "motor", "light", "batteries", "hole",
        "saucer", "plants", "fittings", "nozzle", "operation", "airbag", "pet", "wand",
        "catnip", "kids", "toddlers", "dpi", "click", "game", "family", "slip",
        "breed", "hands", "teething", "sun", "quality", "idea", "essential", "value",
        "seller", "edition", "version", "customer", "favorite", "collection", "essentials",
        "men", "women",
    }
)  # fmt: skip


def type_nouns(spec: TypeSpec) -> tuple[str, ...]:
    """The words of a type's title noun phrase ("men's t-shirt" -> ("men", "t", "shirt"))."""
    return tuple(w for w in _words(spec.query) if w not in {"s"})


def _words(text: str) -> list[str]:
    import re

    return re.findall(r"[a-z0-9]+", text.lower())


ATTRIBUTE_PHRASES: tuple[str, ...] = tuple(sorted({a for t in TYPES for a in t.attributes}))
OPTION_VALUES: tuple[str, ...] = tuple(
    sorted({v for t in TYPES for _, values in t.options for v in values})
)
TYPE_QUERIES: tuple[str, ...] = tuple(t.query for t in TYPES)
CATEGORY_PATHS: tuple[str, ...] = tuple(sorted({SEP.join(t.path) for t in TYPES}))
