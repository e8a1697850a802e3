// Agent markdown: marked's options and the sanitiser's config (static/panel/markdown.js).
// DOMPurify needs a browser window; what it does with PURIFY_CONFIG is tested in
// Chromium (tests/browser/test_panel_xss.py). marked runs here, from vendor/.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { imageAsLink, librariesPending, MARKED_OPTIONS, PURIFY_CONFIG } from '../../static/panel/markdown.js';
import { Marked } from '../../static/vendor/marked/marked.esm.js';

const render = (text) => new Marked(MARKED_OPTIONS).parse(text);

describe('markdown: images never load', () => {
  test('a markdown image becomes a link to it, named by its alt text', () => {
    assert.equal(render('![chart](https://example.test/c.png)').trim(),
      '<p><a href="https://example.test/c.png">chart</a></p>');
  });

  test('an image without alt text is named by its address', () => {
    assert.equal(imageAsLink({ href: '/a.png', text: '' }), '<a href="/a.png">/a.png</a>');
  });

  test('a hostile address or alt text stays text inside the link', () => {
    assert.equal(imageAsLink({ href: 'x" onmouseover="alert(1)', text: '<script>alert(1)</script>' }),
      '<a href="x&quot; onmouseover=&quot;alert(1)">&lt;script&gt;alert(1)&lt;/script&gt;</a>');
  });
});

describe('markdown: the sanitiser config', () => {
  test('HTML only: no SVG or MathML profile', () => {
    assert.deepEqual(PURIFY_CONFIG.USE_PROFILES, { html: true });
  });

  for (const tag of ['img', 'picture', 'video', 'audio', 'style', 'link', 'meta', 'base', 'form', 'input',
    'button', 'textarea', 'iframe', 'frame', 'object', 'embed', 'dialog', 'template']) {
    test(`<${tag}> is forbidden`, () => assert.ok(PURIFY_CONFIG.FORBID_TAGS.includes(tag)));
  }

  for (const attr of ['style', 'class', 'id', 'name', 'srcset', 'tabindex', 'autofocus', 'formaction', 'target']) {
    test(`the ${attr} attribute is forbidden`, () => assert.ok(PURIFY_CONFIG.FORBID_ATTR.includes(attr)));
  }

  test('no data-* attributes, and a DOM fragment back (never an HTML string)', () => {
    assert.equal(PURIFY_CONFIG.ALLOW_DATA_ATTR, false);
    assert.equal(PURIFY_CONFIG.RETURN_DOM_FRAGMENT, true);
  });

  test('nothing is loading before loadLibraries() is called (rendering never waits forever)', () => {
    assert.equal(librariesPending(), false);
  });
});
