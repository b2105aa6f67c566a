"""How the page looks and the one bit of behaviour that runs in the browser.

Fonts are the reader's own (no font CDN: the page loads nothing from elsewhere).
Colours come from the theme's variables, so dark mode follows the system.
"""

import json

import gradio as gr

# Clicking a citation shows its passage in place in the source panel, marked. Beside the chat the
# panel stays put and only it scrolls, so the reader keeps their place in the conversation; below
# the chat (a phone) the page scrolls down to the passage. The panel scrolls the passage to its middle,
# or on to the start of its document when the middle would leave the top of the panel to the document
# before (whose title would then head the panel, above a passage of another document).
CITATION_JS = """
element.addEventListener('click', (event) => {
  const link = event.target.closest('a.cite-link');
  if (!link) return;
  const target = document.getElementById(link.dataset.anchor);
  if (!target) return;
  event.preventDefault();
  document.querySelectorAll('.passage.marked').forEach((p) => p.classList.remove('marked'));
  target.classList.add('marked');
  const panel = document.getElementById('source-panel');
  if (panel && getComputedStyle(panel).position === 'sticky') {
    const top = panel.getBoundingClientRect().top;
    const middle = target.getBoundingClientRect().top - top - (panel.clientHeight - target.offsetHeight) / 2;
    const documentStart = target.closest('article').getBoundingClientRect().top - top;
    panel.scrollBy({top: Math.max(middle, documentStart), behavior: 'smooth'});
  } else {
    target.scrollIntoView({behavior: 'smooth', block: 'center'});
  }
  target.focus({preventScroll: true});
});
"""

# The reply's summary for screen readers: a polite live region (the HTML component's own element, which
# stays in the page while its text changes: a region added with its text is not read out).
LIVE_REGION_JS = "element.setAttribute('role', 'status'); element.setAttribute('aria-live', 'polite');"


def source_region_js(name: str) -> str:
    """The source panel scrolls by itself, so it must take keyboard focus (to scroll it with the arrow keys);
    focused, it is a region named after what it holds ("The interview"), not an unnamed box."""
    return (f"const panel = document.getElementById('source-panel'); panel.tabIndex = 0; "
            f"panel.setAttribute('role', 'region'); panel.setAttribute('aria-label', {json.dumps(name)});")

CSS = """
/* Gradio hides the container's overflow, which makes it a scroll box that never scrolls and pins
   the sticky source panel to it; clip looks the same without being one. */
.gradio-container { max-width: 1280px !important; margin-inline: auto !important; overflow: clip !important; }
#intro h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
/* The theme shows no focus on the question box (Gradio sets its outline to none, hence !important); a
   keyboard user must see where typing goes. */
#question textarea:focus-visible { outline: 2px solid var(--color-accent) !important; outline-offset: 2px; }
/* Unfocused, the theme's box was white on white: a reader could not see where to type. A field's edge
   needs 3:1 against its background (neutral-500 on white is 4.8:1). */
#question textarea { border: 1px solid var(--neutral-500) !important; border-radius: var(--radius-md); }
#intro p { margin: 0; color: var(--body-text-color-subdued); }
#conversation .conversation { display: flex; flex-direction: column; gap: 1.25rem; }
/* Gradio's own announcer (the app's, not a component's) says "Loading", a queue position when the
   server is busy, then its untranslated "common.complete" around every reply; #status says what came. */
.main > .wrap > .sr-only[role="status"] { display: none !important; }
#status {  /* read out, not shown: the reply above says the same */
  position: absolute !important; width: 1px !important; height: 1px !important; padding: 0 !important;
  margin: -1px !important; overflow: hidden !important; clip-path: inset(50%) !important; white-space: nowrap;
  border: 0 !important;
}
#conversation .hint { color: var(--body-text-color-subdued); margin: 0; }
#conversation .asked-by-user {
  margin: 0 0 .5rem auto; max-width: 85%; width: fit-content; padding: .5rem .8rem;
  border-radius: 1rem 1rem .25rem 1rem; background: var(--color-accent-soft);
  white-space: pre-wrap; overflow-wrap: anywhere;
}
#conversation .quote { margin: 0 0 .75rem; }
#conversation blockquote {
  margin: 0; padding: .6rem .9rem; border-left: 4px solid var(--color-accent);
  background: var(--background-fill-secondary); border-radius: 0 .5rem .5rem 0;
  font-family: Georgia, 'Times New Roman', serif; font-size: 1.05rem; line-height: 1.6; overflow-wrap: anywhere;
}
#conversation .closest blockquote { border-left-color: var(--border-color-primary); }
#conversation mark, #source .marked {
  background: #fde68a; color: #1f2937; border-radius: .15rem;
}
#conversation .citation { margin: .3rem 0 0 .9rem; font-size: .875rem; color: var(--body-text-color-subdued); }
#conversation .cite-link { font-weight: 600; }
#conversation .asked { display: block; font-style: italic; }
#conversation details.others { margin-top: .5rem; }
#conversation details.others > summary { cursor: pointer; font-weight: 600; margin-bottom: .5rem; }
#conversation .not-answered { font-weight: 600; margin: 0 0 .5rem; }
#conversation .unsure {
  margin: 0 0 .5rem; padding: .4rem .7rem; font-weight: 600; border-left: 4px solid #f59e0b;
  background: var(--background-fill-secondary); border-radius: 0 .5rem .5rem 0;
}
#source-panel {
  /* 100vh less the page's margins and footer: a fresh page fits the window, so nothing scrolls it. */
  max-height: calc(100vh - 5rem); overflow-y: auto; position: sticky; top: 1rem; padding: 0 1rem 1rem;
  border: 1px solid var(--border-color-primary); border-radius: var(--radius-lg);
  background: var(--background-fill-primary);
}
#source .source-head {
  position: sticky; top: 0; z-index: 1; padding-top: .75rem; margin-bottom: 1rem;
  border-bottom: 1px solid var(--border-color-primary); background: var(--background-fill-primary);
}
#source .source-title { font-weight: 700; font-size: 1.05rem; line-height: 1.35; margin: 0; }
#source .source-pub { margin: 0 0 .5rem; color: var(--body-text-color-subdued); }
#source h2.passage, #source h3.passage { font-size: 1rem; }
#source .role-question { font-style: italic; }
#source .role-byline, #source .role-caption, #source .role-credit, #source .between { font-size: .875rem; }
#source .passage { scroll-margin: 6rem 0 2rem; padding: .1rem .3rem; border-radius: .25rem; }
#source .passage.marked { box-shadow: inset 0 0 0 3px #f59e0b; }
/* Room to scroll the last of several documents to the top of the panel, under its own title. */
#source article.source:last-of-type:not(:first-of-type) { min-height: calc(100vh - 6rem); }
@media (max-width: 760px) {
  #source-panel { max-height: 70vh; position: static; }
  #source article.source:last-of-type:not(:first-of-type) { min-height: 0; }
  #conversation .asked-by-user { max-width: 100%; }
}
"""

# Local fonts: no CDN. Soft's subdued grey (neutral 400) reads at 2.4:1 on its background; neutral 600 and,
# for the placeholder, neutral 500 reach WCAG's 4.5:1.
THEME = gr.themes.Soft(font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
                       font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"]).set(
    body_text_color_subdued="*neutral_600", input_placeholder_color="*neutral_500")
