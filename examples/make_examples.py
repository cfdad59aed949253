"""Write the hand-made example trajectories in examples/ (one per benchmark style).

Usage: python examples/make_examples.py
They exist so the CLI and the segmentation report have real records to show before any
environment or teacher has produced data; later stages generate far more.
"""

from pathlib import Path

from agentdistill.records import PolicyInfo, Step, Task, Timings, Trajectory, write_jsonl

HAND = PolicyInfo(name="hand-written", kind="human")
HERE = Path(__file__).parent

hotpot = Trajectory(
    task=Task(
        env="hotpotqa",
        task_id="example-0",
        split="dev",
        task_type="bridge",
        goal="Which river flows through the city where the Eiffel Tower stands?",
    ),
    initial_observation="Question: Which river flows through the city where the Eiffel Tower "
    "stands?",
    steps=[
        Step(
            reasoning="I need to find where the Eiffel Tower stands, then which river flows there.",
            action="search[Eiffel Tower]",
            observation="The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in "
            "Paris, France. It is named after the engineer Gustave Eiffel.",
            action_valid=True,
        ),
        Step(
            reasoning="The Eiffel Tower is in Paris. Now I need the river of Paris.",
            action="search[Paris]",
            observation="Paris is the capital and largest city of France. The city stands on the "
            "river Seine, in the north of the country.",
            action_valid=True,
        ),
        Step(
            reasoning="Paris stands on the Seine, so the answer is the Seine.",
            action="finish[Seine]",
            observation="Episode finished, reward = 1",
            action_valid=True,
        ),
    ],
    success=True,
    reward=1.0,
    policy=HAND,
    timings=Timings(wall_s=0.0),
)

webshop = Trajectory(
    task=Task(
        env="webshop",
        task_id="example-0",
        split="test",
        goal="i need a blue cotton t-shirt in size large, and price lower than 30.00 dollars",
    ),
    initial_observation="WebShop [SEP] Instruction: [SEP] i need a blue cotton t-shirt in size "
    "large, and price lower than 30.00 dollars [SEP] Search",
    steps=[
        Step(
            reasoning="I should search for a blue cotton t-shirt.",
            action="search[blue cotton t-shirt]",
            observation="[Back to Search] Page 1 (Total results: 50) [Next >] [B07ZX1QWTY] Men's "
            "Cotton Crew Tee, Blue $14.99 [B08L2KC9PD] Classic Cotton T-Shirt $22.50",
            action_valid=True,
        ),
        Step(
            reasoning="The first result is blue cotton and under 30 dollars.",
            action="click[B07ZX1QWTY]",
            observation="[Back to Search] [< Prev] size [small] [medium] [large] color [blue] "
            "[grey] Men's Cotton Crew Tee, Blue Price: $14.99 Rating: N.A. "
            "[Description] [Features] [Reviews] [Buy Now]",
            action_valid=True,
        ),
        Step(action="click[large]", observation="You have clicked large.", action_valid=True),
        Step(action="click[blue]", observation="You have clicked blue.", action_valid=True),
        Step(
            reasoning="Size and colour are set; I can buy it.",
            action="click[Buy Now]",
            observation="Thank you for shopping with us! Your score: 1.0",
            action_valid=True,
        ),
    ],
    success=True,
    reward=1.0,
    policy=HAND,
    timings=Timings(wall_s=0.0),
)

alfworld = Trajectory(
    task=Task(
        env="alfworld",
        task_id="example-0",
        split="valid_unseen",
        task_type="pick_heat_then_place_in_recep",
        goal="put a hot mug in cabinet.",
    ),
    initial_observation="You are in the middle of a room. Looking quickly around you, you see a "
    "cabinet 1, a countertop 1, a microwave 1, and a sinkbasin 1.\n\n"
    "Your task is to: put a hot mug in cabinet.",
    steps=[
        Step(
            reasoning="To solve the task, I need to find and take a mug, then heat it with "
            "microwave, then put it in cabinet.",
            action="go to countertop 1",
            observation="You arrive at countertop 1. On the countertop 1, you see a mug 1.",
            action_valid=True,
        ),
        Step(
            action="take mug 1 from countertop 1",
            observation="You pick up the mug 1 from the countertop 1.",
            action_valid=True,
        ),
        Step(
            reasoning="Now I take a mug (1). Next, I need to go to a microwave (1) and heat it.",
            action="go to microwave 1",
            observation="You arrive at microwave 1. The microwave 1 is closed.",
            action_valid=True,
        ),
        Step(
            action="heat mug 1 with microwave 1",
            observation="You heat the mug 1 using the microwave 1.",
            action_valid=True,
        ),
        Step(
            action="go to cabinet 1",
            observation="You arrive at cabinet 1. The cabinet 1 is closed.",
            action_valid=True,
        ),
        Step(
            action="open cabinet 1",
            observation="You open the cabinet 1. The cabinet 1 is open. In it, you see nothing.",
            action_valid=True,
        ),
        Step(
            action="move mug 1 to cabinet 1",
            observation="You move the mug 1 to the cabinet 1.",
            action_valid=True,
        ),
    ],
    success=True,
    reward=1.0,
    policy=HAND,
    timings=Timings(wall_s=0.0),
)

if __name__ == "__main__":
    write_jsonl(HERE / "trajectories.jsonl", [hotpot, webshop])
    write_jsonl(HERE / "alfworld.jsonl", [alfworld])
    print("wrote examples/trajectories.jsonl and examples/alfworld.jsonl")
