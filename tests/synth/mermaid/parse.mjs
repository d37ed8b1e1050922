// Parse a Mermaid flowchart from stdin with Mermaid's own parser and print what it
// understood as JSON: {type, vertices, edges, subgraphs}. Exit 1 with the parser's
// message when the diagram does not parse, so GitHub would not render it either.
//
// Mermaid sanitizes labels with DOMPurify, which needs a DOM: jsdom provides one,
// so no browser is needed.
import { JSDOM } from 'jsdom';

const { window } = new JSDOM('');
globalThis.window = window;
globalThis.document = window.document;
const { default: mermaid } = await import('mermaid');

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const text = Buffer.concat(chunks).toString('utf8');

mermaid.initialize({ startOnLoad: false, securityLevel: 'strict' });
let diagram;
try {
  await mermaid.parse(text);
  diagram = await mermaid.mermaidAPI.getDiagramFromText(text);
} catch (error) {
  process.stderr.write(`${error?.message ?? error}\n`);
  process.exit(1);
}

// Mermaid keeps entity codes (#lt; #quot; ...) in an internal form until it
// renders; turn them back into the characters a reader would see.
const decoder = window.document.createElement('textarea');
function decode(text) {
  if (typeof text !== 'string') return text;
  decoder.innerHTML = text.replace(/ﬂ°°/g, '&#').replace(/ﬂ°/g, '&').replace(/¶ß/g, ';');
  return decoder.value;
}

const db = diagram.db;
const result = { type: diagram.type };
if (typeof db.getVertices === 'function') {
  result.vertices = [...db.getVertices().values()].map((v) => ({
    id: v.id,
    text: decode(v.text),
    classes: v.classes ?? [],
  }));
  result.edges = db.getEdges().map((e) => ({
    start: e.start,
    end: e.end,
    text: decode(e.text ?? ''),
    stroke: e.stroke,
  }));
  result.subgraphs = db.getSubGraphs().map((s) => ({
    id: s.id,
    title: decode(s.title),
    nodes: s.nodes,
  }));
}
process.stdout.write(`${JSON.stringify(result)}\n`);
