import {
  ANNOTATION,
  imageAnnotations,
  metadataAnnotationKey,
  metadataOf,
} from '../../../src/export/annotations.js';

describe('image annotations', () => {
  it('maps the request to OCI and serverimage.io keys', () => {
    const annotations = imageAnnotations({
      created: new Date('2026-11-27T10:00:00Z'),
      imageName: 'web-01 nightly',
      source: { namespace: 'prod', name: 'web-01', uid: '1234-abcd' },
      volume: 'rootdisk',
      metadata: { os_distro: 'fedora', 'hw:cpu policy': 'dedicated' },
    });
    expect(annotations).toEqual({
      [ANNOTATION.created]: '2026-11-27T10:00:00.000Z',
      [ANNOTATION.title]: 'web-01 nightly',
      'serverimage.io/source.namespace': 'prod',
      'serverimage.io/source.name': 'web-01',
      'serverimage.io/source.uid': '1234-abcd',
      'serverimage.io/volume': 'rootdisk',
      'serverimage.io/metadata.os_distro': 'fedora',
      'serverimage.io/metadata.hw%3Acpu%20policy': 'dedicated',
    });
  });

  it('leaves out what is not given', () => {
    expect(Object.keys(imageAnnotations({ created: new Date(0), imageName: 'x' }))).toEqual([
      ANNOTATION.created,
      ANNOTATION.title,
    ]);
  });

  it('encodes every Nova metadata key to a key of [A-Za-z0-9._%/-] and back', () => {
    const keys = ['a', 'os_distro', 'with space', 'x:y.z-w', ' : ', 'ünïcode', '100%'];
    for (const key of keys)
      expect(metadataAnnotationKey(key)).toMatch(/^serverimage\.io\/metadata\.[A-Za-z0-9._%-]+$/);
    const annotations = imageAnnotations({
      created: new Date(0),
      imageName: 'x',
      metadata: Object.fromEntries(keys.map((k) => [k, `value of ${k}`])),
    });
    expect(metadataOf(annotations)).toEqual(Object.fromEntries(keys.map((k) => [k, `value of ${k}`])));
  });
});
