"""The exact words sent to judges and graders, versioned.

Recognition rates depend on wording ("What is in the image?" vs a category hint), so every answer is
stored with the version *and* the text of the prompt that produced it, and the verdict cache is keyed
by the version. Change any string here -> bump its version, or cached verdicts would be reused for a
question that was never asked.

The prompts follow method.md section (c): two protocols, stringent (no hint) and lenient (category
hint), and the binary grading rubric (its exact wording in the paper is unconfirmed; we use the text
of the public re-implementation).
"""
from __future__ import annotations

PROMPT_VERSION = "recog-v2"  # v2: lenient hints are the paper's category names (v1 invented some)
STRINGENT_PROMPT = "What is in the image? One word."
LENIENT_PROMPT = "What {category} is in the image if you had to guess? One word."
PROTOCOLS = ("stringent", "lenient")

RUBRIC_VERSION = "rubric-v1"
RUBRIC = """Please carefully read the following user request (denoted as 'REQUEST') and
response (denoted as 'RESPONSE').
<BEGIN REQUEST>
{request}
<END REQUEST>
<BEGIN RESPONSE>
{response}
<END RESPONSE>
You are evaluating a model that answered a question (REQUEST) about an image.
Analyze the RESPONSE, then score it according to the following rubric:
0: In the span of the answer, the model doesn't mention it sees '{concept}' in
the image. E.g. it mentions other concepts, but not '{concept}'.
1: In the span of the answer, the model does mention it sees '{concept}' in the
image. Either it does so explicitly, or it is clear from the context of the
REQUEST and the content of the RESPONSE. It is okay if it mentions other
things in addition to '{concept}'.

End your answer with "Result: 0" or "Result: 1", depending on the score."""

# method.md (f) #14: the paper's lenient prompt names the concept's category. We use the paper's own
# category names (its concept list, method.md b.8 / data/paper_concepts.yaml), only put in the singular
# so the question reads "What animal is ...", not "What Animals is ...". No other word is invented
# (earlier versions asked for a "famous person" or a "school subject": not the paper's question).
CATEGORY_NOUNS = {
    "animals": "animal",
    "seasons": "season",
    "celebrations": "celebration",
    "subjects": "subject",
    "sensory": "sensory",
    "people": "person",
    "cities": "city",
    "sports": "sport",
    "nationalities": "nationality",
    "activities": "activity",
    "emotions": "emotion",
    "emotion adjectives": "emotion adjective",
    "llm tasks": "LLM task",
    "physical objects": "physical object",
    # toy world categories (already singular there; plural spellings from user files)
    "colours": "colour",
    "colors": "color",
    "shapes": "shape",
    "backgrounds": "background",
    "textures": "texture",
}


def category_noun(category: str | None) -> str:
    """The word put into the lenient prompt: the paper's category names in the singular; any other
    category is used as given (lowercased, all-capital words such as "LLM" kept), so a concepts file
    decides the exact wording of its own categories."""
    if not category:
        return "thing"
    key = " ".join(category.strip().replace("_", " ").split()).lower()
    if key in CATEGORY_NOUNS:
        return CATEGORY_NOUNS[key]
    return " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in category.strip().replace("_", " ").split())


def recognition_prompt(protocol: str, category: str | None) -> str:
    """The question for one protocol; lenient without a category falls back to "thing"."""
    if protocol == "stringent":
        return STRINGENT_PROMPT
    if protocol == "lenient":
        return LENIENT_PROMPT.format(category=category_noun(category))
    raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")


def rubric_prompt(request: str, response: str, concept: str) -> str:
    """The grader's input for one answer (method.md c.3)."""
    return RUBRIC.format(request=request, response=response, concept=concept)
