/** The addon's message for a call on a disposed model (model_executor.cpp says the same). */
export const DISPOSED_MESSAGE = 'This model was disposed; create or load a new one';

/** Thrown when a disposed model is used. */
export class DisposedError extends Error {
  constructor() {
    super(DISPOSED_MESSAGE);
    this.name = 'DisposedError';
  }
}
