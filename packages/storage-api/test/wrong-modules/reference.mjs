// The reference backend loaded the same way as the wrong fixtures (by path), as a control.
export { default } from '@sluice/storage-api/memory';
